/**
 * Real Redis servers for the queue tests: each test starts its own `redis-server` on a
 * loopback port, without persistence, and stops it by its pid. No mock anywhere. Under
 * `CI=true` a missing redis-server fails the test; elsewhere the queue tests are skipped.
 * @module
 */

/** True when Debian's redis-server can be started here. */
export const haveRedis = (() => {
  try {
    return new Deno.Command("redis-server", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
})();

/** Whether to skip the queue tests (never under CI=true: there a missing Redis fails the build). */
export const skipQueueTests = !haveRedis && Deno.env.get("CI") !== "true";

/** A running Redis. */
export interface TestRedis {
  readonly port: number;
  readonly pid: number;
  /** Stop it (SIGKILL: as a crash; it had no persistence). */
  readonly stop: () => Promise<void>;
}

const ping = (port: number, password?: string): boolean => {
  try {
    const out = new Deno.Command("redis-cli", {
      args: ["-h", "127.0.0.1", "-p", String(port), ...(password ? ["--no-auth-warning", "-a", password] : []), "ping"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return new TextDecoder().decode(out.stdout).trim() === "PONG";
  } catch {
    return false;
  }
};

let nextPort = 20000 + (Deno.pid % 20000);

/** Start a Redis on a free loopback port (or on `port`), optionally with a password. */
export const startRedis = async (opts: { port?: number; password?: string } = {}): Promise<TestRedis> => {
  if (!haveRedis) throw new Error("redis-server is not installed (apt-get install redis-server)");
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = opts.port ?? nextPort++;
    const child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        ...(opts.password ? ["--requirepass", opts.password] : []),
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 50; i++) {
      if (ping(port, opts.password)) {
        return {
          port,
          pid: child.pid,
          stop: async () => {
            try {
              child.kill("SIGKILL");
            } catch { /* gone */ }
            await child.status;
          },
        };
      }
      const st = await Promise.race([child.status, new Promise((r) => setTimeout(() => r(undefined), 100))]);
      if (st !== undefined) break; // it exited: the port is taken
    }
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    if (opts.port !== undefined) break;
  }
  throw new Error("could not start redis-server on a loopback port");
};
