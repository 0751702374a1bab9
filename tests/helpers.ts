/**
 * Test helpers: temporary directories inside the project's cache (the test task
 * may write only there), backend setup, and tiny synthetic datasets.
 * @module
 */
import { Effect, Layer } from "effect";
import { NodeContext } from "@effect/platform-node";
import { initBackend } from "../core/backend.ts";
import { registryLayer } from "../core/registry.ts";
import { builtinPlugins } from "../plugins/index.ts";

/** Project root (absolute). */
export const ROOT = new URL("../", import.meta.url).pathname;

/** A fresh temporary directory under .cache/test-tmp. */
export const tempDir = async (prefix = "t"): Promise<string> => {
  const base = `${ROOT}.cache/test-tmp`;
  await Deno.mkdir(base, { recursive: true });
  return await Deno.makeTempDir({ dir: base, prefix: `${prefix}-` });
};

/** Make the wasm backend (with our kernels) active. */
export const useWasm = () => Effect.runPromise(initBackend("wasm"));

/** The layers a pipeline needs in tests: platform services and the built-in registry. */
export const testLayer = Layer.mergeAll(NodeContext.layer, registryLayer(builtinPlugins));

/** Path of a fixture file. */
export const fixture = (rel: string): string => `${ROOT}fixtures/${rel}`;

/** The permissions of the `scalpel` task (the write permission is given per call). */
const CLI_PERMISSIONS = ["--allow-read", "--allow-env", "--allow-sys=uid,gid", "--allow-run"];

/** Run `scalpel ARGS` as a user would (a subprocess) with write access to `writable` only. */
export const runCli = async (args: string[], writable: string[]) => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLI_PERMISSIONS, `--allow-write=${writable.join(",")}`, `${ROOT}cli.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
};
