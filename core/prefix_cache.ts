/**
 * Frozen-prefix caching. When fine-tuning leaves every stage before stage `b`
 * frozen (and batch-norm in eval mode, so the prefix is a fixed function of its
 * input), the input of stage `b` is computed once per split and every training step
 * and evaluation starts from it: the frozen prefix is neither run forward again nor
 * back-propagated through.
 *
 * Correct by construction: each entry keeps a copy of the prefix weights it was
 * computed with and is recomputed when they differ (a selector that unfreezes an
 * earlier group, another pre-trained model restored into the same network).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import type { Split } from "./dataset.ts";
import { applyStages, type Model } from "./model.ts";
import { batchRows, inOrder } from "./batches.ts";
import { readAll, readFloats, runRead } from "./read.ts";

/** The input of one stage for every example of a split. */
export interface Features {
  /** Row-major, `count` rows of `rowShape`. */
  readonly rows: Float32Array;
  readonly rowShape: ReadonlyArray<number>;
  readonly count: number;
}

interface Entry {
  readonly prefixWeights: ReadonlyArray<Float32Array>;
  readonly features: Features;
}

/** Default memory budget of one cache (activations kept in the JS heap). */
export const DEFAULT_PREFIX_CACHE_BYTES = 1024 * 1024 * 1024;

/** Cached stage inputs of one model, per split and stage boundary. */
export class PrefixCache {
  private readonly entries = new Map<Split, Map<number, Entry>>();
  private bytes = 0;
  /** Number of feature computations (misses) and reuses (hits), for tests and the benchmark. */
  readonly stats = { computed: 0, reused: 0 };

  constructor(private readonly model: Model, private readonly budgetBytes = DEFAULT_PREFIX_CACHE_BYTES) {}

  /**
   * The input of stage `boundary` for every example of `split`, under the model's
   * current weights; `undefined` when the model has no stages, `boundary` is 0, or
   * the activations would not fit the budget (the caller then runs the whole network).
   * Reads tensors on any backend (see core/read.ts).
   */
  readFeatures(split: Split, boundary: number): Effect.Effect<Features | undefined> {
    return Effect.gen(this, function* () {
      const stages = this.model.stages;
      if (!stages || boundary <= 0 || boundary > stages.length) return undefined;
      const weights = yield* this.prefixWeights(boundary);
      const bySplit = this.entries.get(split) ?? new Map<number, Entry>();
      const hit = bySplit.get(boundary);
      if (hit && sameWeights(hit.prefixWeights, weights)) {
        this.stats.reused++;
        return hit.features;
      }
      if (hit) {
        bySplit.delete(boundary);
        this.bytes -= hit.features.rows.byteLength;
      }
      const features = yield* this.compute(split, boundary);
      if (!features) return undefined;
      this.evictFor(features.rows.byteLength);
      if (this.bytes + features.rows.byteLength > this.budgetBytes) return features;
      bySplit.set(boundary, { prefixWeights: weights, features });
      this.entries.set(split, bySplit);
      this.bytes += features.rows.byteLength;
      return features;
    });
  }

  /** {@link readFeatures}, synchronously: on a backend that reads synchronously (every one but webgpu). */
  features(split: Split, boundary: number): Features | undefined {
    return runRead("PrefixCache.features", this.readFeatures(split, boundary));
  }

  /** Copies of the weights (parameters and state) used by the stages before `boundary`. */
  private prefixWeights(boundary: number): Effect.Effect<Float32Array[]> {
    const groups = new Set(this.model.stages!.slice(0, boundary).map((s) => s.group));
    return readAll(
      [...this.model.params, ...this.model.state].filter((v) => groups.has(v.group)).map((v) => v.variable),
    );
  }

  private compute(split: Split, boundary: number, batchSize = 256): Effect.Effect<Features | undefined> {
    const stages = this.model.stages!;
    const shape = this.model.inputShape;
    return Effect.gen(this, function* () {
      let rows: Float32Array | undefined;
      let rowShape: number[] = [];
      for (const { start, idx } of inOrder(split.count, batchSize)) {
        const out = tf.tidy(() => applyStages(stages, batchRows(split.images, shape, idx), "eval", [], 0, boundary));
        if (!rows) {
          rowShape = out.shape.slice(1);
          const rowSize = rowShape.reduce((a, b) => a * b, 1);
          if (split.count * rowSize * 4 > this.budgetBytes) {
            out.dispose();
            return undefined;
          }
          rows = new Float32Array(split.count * rowSize);
        }
        const values = yield* readFloats(out).pipe(Effect.ensuring(Effect.sync(() => out.dispose())));
        rows.set(values, start * (rows.length / split.count));
      }
      this.stats.computed++;
      return { rows: rows ?? new Float32Array(0), rowShape, count: split.count };
    });
  }

  private evictFor(incoming: number): void {
    for (const [split, bySplit] of this.entries) {
      if (this.bytes + incoming <= this.budgetBytes) return;
      for (const e of bySplit.values()) this.bytes -= e.features.rows.byteLength;
      this.entries.delete(split);
    }
  }
}

const sameWeights = (a: ReadonlyArray<Float32Array>, b: ReadonlyArray<Float32Array>): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.length !== y.length) return false;
    for (let k = 0; k < x.length; k++) if (x[k] !== y[k] && !(Number.isNaN(x[k]) && Number.isNaN(y[k]))) return false;
  }
  return true;
};
