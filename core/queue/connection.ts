/**
 * Connections to the queue's Redis (ioredis, the client BullMQ is built on), as scoped
 * resources. Every connection retries for ever (a Redis that restarts is reconnected
 * to; commands wait meanwhile), except the probe `checkReachable`, which answers at
 * start in one paragraph whether the address works at all.
 * @module
 */
import { Effect, type Scope } from "effect";
import { Redis, type RedisOptions } from "ioredis";
import { isIP } from "node:net";
import { QueueError } from "../errors.ts";
import type { QueueAddress } from "./address.ts";

/** ioredis options for `a` (BullMQ needs `maxRetriesPerRequest: null`). */
export const redisOptions = (a: QueueAddress): RedisOptions => ({
  host: a.host,
  port: a.port,
  db: a.db,
  ...(a.username === undefined ? {} : { username: a.username }),
  ...(a.password === undefined ? {} : { password: a.password }),
  // TLS checks the server's certificate against the host name (for an IP address, against the address)
  ...(a.tls ? { tls: isIP(a.host) ? {} : { servername: a.host } } : {}),
  maxRetriesPerRequest: null,
  enableReadyCheck: true,
  // reconnect for ever, at most every 2 s
  retryStrategy: (times: number) => Math.min(200 * times, 2000),
});

/** A one-line reason for a Redis error, without any password (ioredis' messages name host and port only). */
const reasonOf = (a: QueueAddress, e: unknown): { detail: string; fix: string } => {
  const text = e instanceof Error ? e.message : String(e);
  if (/ECONNREFUSED/.test(text)) {
    return {
      detail: `nothing answers at ${a.host}:${a.port} (connection refused)`,
      fix: "Start Redis there (e.g. `redis-server --port " + a.port + "`) or give the address of a running one.",
    };
  }
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/.test(text)) {
    return { detail: `the host ${a.host} is not known`, fix: "Check the host name of the address." };
  }
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(text)) {
    return {
      detail: "Redis refused the credentials (a missing or wrong user name or password)",
      fix: "Give them in the address (redis://user:password@host:port), or read it from an environment variable " +
        "with env:NAME.",
    };
  }
  if (/certificate|self[- ]signed|CERT_|UnknownIssuer|unable to verify/i.test(text)) {
    return {
      detail: `the server's TLS certificate is not trusted (${text.split("\n")[0]})`,
      fix: "Give Deno the certificate authority that signed it (DENO_CERT=/path/to/ca.pem), or check the host name " +
        "against the certificate's.",
    };
  }
  if (/timed? ?out|ETIMEDOUT/i.test(text)) {
    return {
      detail: `no answer from ${a.host}:${a.port} within the time limit`,
      fix: "Check the address, the port and any firewall between the machines.",
    };
  }
  return { detail: `cannot be used (${text.split("\n")[0]})`, fix: "Check the address and that Redis runs there." };
};

/** The error of an unreachable queue. */
export const queueErrorOf = (a: QueueAddress, e: unknown): QueueError =>
  new QueueError({ queue: a.shown, ...reasonOf(a, e) });

/** Connect once without retrying and PING: fails with a QueueError paragraph when the address does not work. */
export const checkReachable = (a: QueueAddress, timeoutMs = 5000): Effect.Effect<void, QueueError> => {
  // ioredis rejects `connect()` with "Connection is closed."; the cause comes as an `error` event
  let cause: unknown;
  return Effect.tryPromise({
    try: async () => {
      const probe = new Redis({
        ...redisOptions(a),
        lazyConnect: true,
        connectTimeout: timeoutMs,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
      });
      probe.on("error", (e) => {
        cause ??= e;
      });
      try {
        await probe.connect();
        await probe.ping();
      } finally {
        probe.disconnect();
      }
    },
    catch: (e) => queueErrorOf(a, cause ?? e),
  });
};

/**
 * A connection that retries for ever, closed with its scope. While it is down, `log`
 * hears of it once per outage (and again when it is back).
 */
export const connection = (
  a: QueueAddress,
  log: (line: string) => void,
): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(redisOptions(a));
      let down = false;
      client.on("error", (e: Error) => {
        if (down) return;
        down = true;
        log(`queue ${a.shown}: connection lost (${reasonOf(a, e).detail}); reconnecting`);
      });
      client.on("ready", () => {
        if (!down) return;
        down = false;
        log(`queue ${a.shown}: connected again`);
      });
      return client;
    }),
    (client) => closeClient(client),
  );

/**
 * Close a connection: QUIT when Redis answers, at most `ms`; otherwise (Redis down, a
 * command waiting for ever) drop it, so that stopping never waits for Redis.
 */
export const closeClient = (client: Redis, ms = 2000): Effect.Effect<void> =>
  client.status !== "ready" ? Effect.sync(() => client.disconnect()) : Effect.promise(() => client.quit()).pipe(
    Effect.timeout(ms),
    Effect.ignore,
    Effect.ensuring(Effect.sync(() => client.disconnect())),
  );

/** A BullMQ object's `close()`, at most `ms` (with Redis down it would wait for it). */
export const closeWithin = (close: () => Promise<unknown>, ms = 2000): Effect.Effect<void> =>
  Effect.promise(close).pipe(Effect.timeout(ms), Effect.ignore);
