/**
 * Queue addresses, job ids and refusals: a password never shows in what is printed,
 * the network permission is exactly host:port, ids round-trip.
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseQueueAddress, redactText } from "../../core/queue/address.ts";
import { jobIdOf, parseJobId } from "../../core/queue/keys.ts";
import { decodeRefusal, encodeRefusal } from "../../core/queue/jobs.ts";
import { withQueueValue } from "../../commands/queue_net.ts";
import { QueueError } from "../../core/errors.ts";

const word = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);

Deno.test("queue address: the password is kept for connecting and never in `shown`", () => {
  fc.assert(
    fc.property(
      word,
      fc.string({ minLength: 1, maxLength: 20, unit: "grapheme" }),
      fc.domain(),
      fc.integer({ min: 1, max: 65535 }),
      fc.boolean(),
      (user, pw, host, port, tls) => {
        const scheme = tls ? "rediss" : "redis";
        const url = `${scheme}://${user}:${encodeURIComponent(pw)}@${host}:${port}/2`;
        const a = parseQueueAddress(url);
        assert.ok(!(a instanceof QueueError), String(a instanceof QueueError && a.describe()));
        assert.equal(a.password, pw);
        assert.equal(a.username, user);
        assert.equal(a.host, host.toLowerCase());
        assert.equal(a.port, port);
        assert.equal(a.db, 2);
        assert.equal(a.tls, tls);
        assert.equal(a.netPermission, `${host.toLowerCase()}:${port}`);
        assert.equal(a.shown, `${scheme}://${user}:***@${host.toLowerCase()}:${port}/2`);
        assert.equal(redactText(url), `${scheme}://${user}:***@${host}:${port}/2`);
      },
    ),
  );
});

Deno.test("queue address: defaults, env:NAME, and one-paragraph errors that never echo a password", () => {
  const a = parseQueueAddress("redis://localhost");
  assert.ok(!(a instanceof QueueError));
  assert.deepEqual([a.host, a.port, a.db, a.tls, a.password], ["localhost", 6379, 0, false, undefined]);
  const b = parseQueueAddress("env:Q", (n) => (n === "Q" ? "redis://:pw@10.0.0.7:7000" : undefined));
  assert.ok(!(b instanceof QueueError));
  assert.deepEqual([b.host, b.port, b.password, b.shown], ["10.0.0.7", 7000, "pw", "redis://:***@10.0.0.7:7000"]);
  const missing = parseQueueAddress("env:NOPE", () => undefined);
  assert.ok(missing instanceof QueueError);
  assert.match(missing.describe(), /the environment variable NOPE is not set/);
  const scheme = parseQueueAddress("http://u:topsecret@host:1");
  assert.ok(scheme instanceof QueueError);
  assert.match(scheme.describe(), /has the scheme http, not redis or rediss/);
  assert.ok(!scheme.describe().includes("topsecret"));
  const junk = parseQueueAddress("not an address");
  assert.ok(junk instanceof QueueError);
  assert.match(junk.describe(), /is not an address\. Give an address like redis:\/\/host:6379/);
  const db = parseQueueAddress("redis://h/x");
  assert.ok(db instanceof QueueError);
  const escape = parseQueueAddress("redis://u:%aa-topsecret@h:1");
  assert.ok(escape instanceof QueueError);
  assert.match(escape.describe(), /malformed %-escape/);
  assert.ok(!escape.describe().includes("topsecret"));
});

Deno.test("queue: job ids round-trip; refusals are told apart from other failures", () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[0-9a-f]{16}$/), fc.stringMatching(/^[0-9a-f]{16}$/), (run, key) => {
      assert.deepEqual(parseJobId(jobIdOf(run, key)), { runId: run, key });
      assert.ok(!jobIdOf(run, key).includes(":"));
    }),
  );
  assert.equal(parseJobId("42"), undefined);
  const r = { worker: "host (process 1)", tag: "DatasetError", message: "differs" };
  assert.deepEqual(decodeRefusal(encodeRefusal(r)), r);
  assert.equal(decodeRefusal("job stalled more than allowable limit"), undefined);
  assert.equal(decodeRefusal(undefined), undefined);
});

Deno.test("queue: the re-started command carries the address in the environment, not in its arguments", () => {
  assert.deepEqual(
    withQueueValue(["run", "f.yaml", "--queue", "redis://:pw@h:1", "--quiet"], "env:X"),
    ["run", "f.yaml", "--queue", "env:X", "--quiet"],
  );
  assert.deepEqual(withQueueValue(["worker", "--queue=redis://:pw@h:1"], "env:X"), ["worker", "--queue=env:X"]);
});
