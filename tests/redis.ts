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

/** A Redis that speaks TLS only, on `localhost`, with a certificate signed by a fresh test CA (`ca`: its PEM file). */
export const startTlsRedis = async (dir: string): Promise<TestRedis & { readonly ca: string }> => {
  const sh = (args: string[]) => {
    const out = new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" }).outputSync();
    if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  };
  sh([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=scalpel test CA",
  ]);
  sh(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  sh([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ]);
  const port = nextPort++;
  const child = new Deno.Command("redis-server", {
    args: [
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--tls-cert-file",
      `${dir}/server.pem`,
      "--tls-key-file",
      `${dir}/server.key`,
      "--tls-ca-cert-file",
      `${dir}/ca.pem`,
      "--tls-auth-clients",
      "no",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
  };
  for (let i = 0; i < 50; i++) {
    const out = new Deno.Command("redis-cli", {
      args: ["--tls", "--cacert", `${dir}/ca.pem`, "-h", "localhost", "-p", String(port), "ping"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (new TextDecoder().decode(out.stdout).trim() === "PONG") {
      return { port, pid: child.pid, stop, ca: `${dir}/ca.pem` };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error("could not start a TLS redis-server");
};
