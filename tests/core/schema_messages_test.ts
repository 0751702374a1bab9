import { strict as assert } from "node:assert";
import { Effect } from "effect";
import { loadPipeline } from "../../core/pipeline/load.ts";
import { tempDir, testLayer } from "../helpers.ts";

const base = `name: m
dataset: mnist
model: small-cnn
shifts: [{ shift: corruption, options: { name: gaussian_noise, severity: 5 } }]
selections: [none]
`;

/** The error paragraph `validate` would print for `text`. */
const errorOf = async (text: string): Promise<string> => {
  const dir = await tempDir("messages");
  await Deno.writeTextFile(`${dir}/p.yaml`, text);
  const exit = await Effect.runPromiseExit(loadPipeline(`${dir}/p.yaml`).pipe(Effect.provide(testLayer)));
  assert.equal(exit._tag, "Failure", text);
  return exit._tag === "Failure" && exit.cause._tag === "Fail" ? exit.cause.error.describe() : String(exit);
};

Deno.test("messages: an option's description never stands in for what was expected", async () => {
  const e = await errorOf(base + "target: { val: 0 }\n");
  assert.match(e, /^ {2}target\.val: Expected integer > 0, actual 0$/m);
  assert.doesNotMatch(e, /Expected [A-Z]/, "no 'Expected <documentation sentence>'");
  assert.doesNotMatch(e, /Expected undefined/, "no misleading line for the optional field above it");
  const p = await errorOf(base + "pretrain: 5\n");
  assert.match(p, /^ {2}pretrain: Expected \{ epochs\?: integer > 0; .*\}, actual 5$/m);
  assert.equal(p.split("\n").filter((l) => l.startsWith("  ")).length, 1, p);
});

Deno.test("messages: an unknown corruption name is one line with the names and the closest one", async () => {
  const e = await errorOf(base.replace("gaussian_noise", "gausian_noise"));
  const lines = e.split("\n").filter((l) => l.startsWith("  "));
  assert.equal(lines.length, 1, e);
  assert.match(
    lines[0],
    /options\.name: "gausian_noise" is not one of the 29 accepted values: gaussian_noise, shot_noise, .*, all \(did you mean "gaussian_noise"\?\)$/,
  );
  const far = await errorOf(base.replace("gaussian_noise", "zzzzzzzzzzzzzzzzzzzz"));
  assert.doesNotMatch(far, /did you mean/);
});

Deno.test("messages: a value that may also be a list reports the single value's rule only", async () => {
  const e = await errorOf(base.replace("severity: 5", "severity: 9"));
  const lines = e.split("\n").filter((l) => l.startsWith("  "));
  assert.deepEqual(lines, ["  shifts[0].options.severity: Expected a number between 1 and 5, actual 9"]);
});
