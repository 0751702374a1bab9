/**
 * Timing helpers shared by the benchmarks: a seeded random MNIST-shaped split, the
 * variables of a subset, and training / inference examples per second (median of
 * `reps` repetitions after one warm-up).
 * @module
 */
import { Effect } from "effect";
import { rngFor } from "../core/random.ts";
import { readPredictions, train } from "../core/train.ts";
import type { Model } from "../core/model.ts";
import type { Split } from "../core/dataset.ts";
import { PrefixCache } from "../core/prefix_cache.ts";

/** The benchmarks' batch size. */
export const BATCH = 64;

/** The 1-minute load average, or undefined without `--allow-sys=loadavg`. */
export const loadAverage = (): number | undefined => {
  try {
    return Deno.loadavg()[0];
  } catch {
    return undefined;
  }
};

/**
 * A warning when the machine is busy (1-minute load average above the core count): timings taken now are noisy, and
 * a peer that uses several threads suffers most. Undefined when it is quiet.
 */
export const busyWarning = (): string | undefined => {
  const load = loadAverage();
  if (load === undefined) return undefined; // a child process of a benchmark: its parent warned
  const cores = navigator.hardwareConcurrency || 1;
  return load > cores
    ? `warning: the machine is busy (load average ${load.toFixed(2)} > ${cores} cores): timings will be noisy; ` +
      "measure in a quiet window"
    : undefined;
};

/** Median, minimum and maximum of repeated rates. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** The spread of a non-empty list. */
export const spreadOf = (xs: ReadonlyArray<number>): Spread => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
});

/** Median of a non-empty list. */
export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** `n` random 28×28×1 uint8 images with labels in [0, 10), seeded. */
export const randomSplit = (n: number): Split => {
  const r = rngFor(0, ["bench", "data"]);
  return {
    images: Uint8Array.from({ length: n * 784 }, () => r.int(256)),
    labels: Int32Array.from({ length: n }, () => r.int(10)),
    count: n,
  };
};

/** Multipliers of a subset: `all`, `last-layer` (the head group) or a group name. */
export const subsetOf = (model: Model, subset: string): ReadonlyMap<string, number> => {
  const pick = subset === "all"
    ? model.params
    : subset === "last-layer"
    ? model.params.filter((p) => p.group === "head")
    : model.params.filter((p) => p.group === subset);
  return new Map(pick.map((p) => [p.name, 1]));
};

/** How `trainRate` trains. */
export interface RateOptions {
  readonly reps: number;
  /** Batch-norm mode: `eval` as in fine-tuning (default), `train` as in pre-training. */
  readonly batchNormMode?: "train" | "eval";
  /** Use a frozen-prefix cache (filled by the warm-up: the steady state of a trial's later epochs). */
  readonly prefixCache?: boolean;
  /** Examples per batch (default {@link BATCH}). */
  readonly batchSize?: number;
}

/** Training examples/s of one epoch over `data` (forward + backward + Adam), median over reps. */
export const trainRate = async (model: Model, data: Split, subset: string, o: RateOptions): Promise<number> =>
  (await trainRates(model, data, subset, o)).median;

/** Training examples/s of one epoch over `data`: median, minimum and maximum over reps. */
export const trainRates = async (model: Model, data: Split, subset: string, o: RateOptions): Promise<Spread> => {
  const mult = subsetOf(model, subset);
  const cache = o.prefixCache ? new PrefixCache(model) : undefined;
  const once = async () => {
    const t0 = performance.now();
    await Effect.runPromise(train(model, data, {
      epochs: 1,
      batchSize: o.batchSize ?? BATCH,
      learningRate: 1e-4,
      batchNormMode: o.batchNormMode ?? "eval",
      multipliers: () => mult,
      rng: rngFor(0, ["bench", "batches"]),
      what: "bench",
      ...(cache ? { prefixCache: cache } : {}),
    }));
    return data.count / ((performance.now() - t0) / 1000);
  };
  await once();
  const rates: number[] = [];
  for (let i = 0; i < o.reps; i++) rates.push(await once());
  return spreadOf(rates);
};

/** Inference examples/s over `data` at batch 64, median over reps (reading the logits as runs do, on any backend). */
export const inferRate = async (model: Model, data: Split, reps: number): Promise<number> => {
  const once = () => Effect.runPromise(readPredictions(model, data, BATCH));
  await once();
  const rates: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await once();
    rates.push(data.count / ((performance.now() - t0) / 1000));
  }
  return median(rates);
};
