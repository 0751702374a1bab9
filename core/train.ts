/**
 * The training loop (our own, not `model.fit`): seeded batch order, Adam with one
 * learning-rate multiplier per trainable variable (0 = frozen: never updated and
 * never given a gradient), batch-norm in `train` mode for pre-training or `eval`
 * mode (running statistics frozen) for fine-tuning, NaN/Inf loss detection.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { Effect } from "effect";
import { firstStageUsing, type ForwardResult, type Model, type NamedVariable, runStages } from "./model.ts";
import type { Split } from "./dataset.ts";
import { batchImages, batchLabels, batchRows, inOrder } from "./batches.ts";
import { type AdamSlot, adamSlot, adamUpdate } from "./adam.ts";
import type { PrefixCache } from "./prefix_cache.ts";
import type { Rng } from "./random.ts";
import { TrainingError } from "./errors.ts";
import { readAll, readFloats, runRead } from "./read.ts";

/** Settings of one training run. */
export interface TrainSettings {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** `train`: batch-norm uses batch statistics and updates running ones; `eval`: frozen. */
  readonly batchNormMode: "train" | "eval";
  /**
   * Learning-rate multiplier per variable name for an epoch (given the mean losses of
   * the epochs so far); absent or 0 = frozen.
   */
  readonly multipliers: (
    epoch: number,
    losses: ReadonlyArray<number>,
  ) => ReadonlyMap<string, number> | Effect.Effect<ReadonlyMap<string, number>>;
  /** Optional L2-SP penalty α‖θ − θ₀‖² toward `anchor` (θ₀ by variable name), over the trained variables. */
  readonly penalty?: { readonly alpha: number; readonly anchor: ReadonlyMap<string, tf.Tensor> };
  /** Batch order stream. */
  readonly rng: Rng;
  /** Names what is trained, for error messages (`pre-training resnet-mini`, `trial 3f2a…`). */
  readonly what: string;
  /**
   * Frozen-prefix cache: in `eval` batch-norm mode, each epoch starts its steps at the
   * first stage with a trained variable, from activations computed once per split.
   */
  readonly prefixCache?: PrefixCache;
  /** Called after each epoch with the mean training loss. */
  readonly onEpoch?: (epoch: number, meanLoss: number) => Effect.Effect<void, TrainingError>;
}

/**
 * Where a training run stands after some epochs: enough to continue it later (another
 * call of `train` with `resume`) with exactly the results of running straight through.
 * Plain data, independent of any live tensor.
 */
export interface TrainState {
  /** Epochs done. */
  readonly epoch: number;
  /** Adam state per variable name. */
  readonly slots: ReadonlyMap<string, { readonly m: Float32Array; readonly v: Float32Array; readonly step: number }>;
  readonly epochLosses: ReadonlyArray<number>;
  readonly multipliersByEpoch: ReadonlyArray<ReadonlyMap<string, number>>;
  readonly stepsByVariable: ReadonlyMap<string, number>;
}

/** What a training run did. */
export interface TrainReport {
  readonly epochLosses: ReadonlyArray<number>;
  /** Steps taken per variable name (0 for variables never trained). */
  readonly stepsByVariable: ReadonlyMap<string, number>;
  /** The multipliers used in each epoch. */
  readonly multipliersByEpoch: ReadonlyArray<ReadonlyMap<string, number>>;
  /** Set when the run stopped at `stopAfter` before its last epoch: where to continue from. */
  readonly paused?: TrainState;
}

/** Adam slots of one training run, released when its scope closes (on every exit path). */
const adamSlots = Effect.acquireRelease(
  Effect.sync(() => new Map<string, AdamSlot>()),
  (slots) =>
    Effect.sync(() => {
      for (const s of slots.values()) {
        s.m.dispose();
        s.v.dispose();
      }
    }),
);

/** Slots holding a saved Adam state (for a resumed run). */
const restoreSlots = (slots: Map<string, AdamSlot>, model: Model, saved: TrainState["slots"]) => {
  for (const p of model.params) {
    const s = saved.get(p.name);
    if (!s) continue;
    const variable = (data: Float32Array) => {
      const t = tf.tensor(data, p.variable.shape);
      const v = tf.variable(t, false);
      t.dispose();
      return v;
    };
    slots.set(p.name, { m: variable(s.m), v: variable(s.v), step: s.step });
  }
};

/**
 * Train `model` on `data` in place. Only variables with a positive multiplier in an
 * epoch are differentiated and updated in that epoch. With `resume` it continues a
 * run that `stopAfter` paused (the model must hold the weights it had then).
 */
export const train = (
  model: Model,
  data: Split,
  settings: TrainSettings & {
    /** Continue from this state (the batch order stream is replayed to its position). */
    readonly resume?: TrainState;
    /** Stop once this many epochs are done (fewer than `epochs`), and report where to continue from. */
    readonly stopAfter?: number;
  },
): Effect.Effect<TrainReport, TrainingError> =>
  Effect.gen(function* () {
    const slots = yield* adamSlots;
    const start = settings.resume;
    if (start) restoreSlots(slots, model, start.slots);
    const steps = new Map<string, number>(model.params.map((p) => [p.name, start?.stepsByVariable.get(p.name) ?? 0]));
    const losses: number[] = [...(start?.epochLosses ?? [])];
    const used: Array<ReadonlyMap<string, number>> = [...(start?.multipliersByEpoch ?? [])];
    const first = start?.epoch ?? 0;
    // the batch order stream draws one permutation per epoch: replay the epochs already done
    for (let e = 0; e < first; e++) settings.rng.permutation(data.count);
    const last = Math.min(settings.epochs, settings.stopAfter ?? settings.epochs);
    for (let epoch = first; epoch < last; epoch++) {
      // a selector that throws is a plugin failure: the trial's error boundary names it
      const asked = settings.multipliers(epoch, losses);
      const mult = Effect.isEffect(asked) ? yield* asked : asked;
      used.push(mult);
      const active: NamedVariable[] = model.params.filter((p) => (mult.get(p.name) ?? 0) > 0);
      const order = settings.rng.permutation(data.count);
      const pass = active.length > 0 ? yield* passFor(model, data, active, settings) : undefined;
      let lossSum = 0;
      let batches = 0;
      if (pass) {
        for (let start = 0; start < data.count; start += settings.batchSize) {
          const idx = order.subarray(start, Math.min(start + settings.batchSize, data.count));
          // A batch of one breaks batch-norm statistics; skip a trailing singleton in train mode.
          if (idx.length < 2 && settings.batchNormMode === "train") continue;
          const loss = yield* step(model, pass, data, idx, active, mult, slots, settings);
          if (!Number.isFinite(loss)) {
            return yield* new TrainingError({
              what: settings.what,
              detail: `the loss became ${loss} at epoch ${epoch + 1}, batch ${
                batches + 1
              } (learning rate ${settings.learningRate})`,
              fix: "Lower the learning rate (or remove it from the grid) or check the data for NaN values.",
            });
          }
          for (const p of active) steps.set(p.name, (steps.get(p.name) ?? 0) + 1);
          lossSum += loss;
          batches++;
          // every 16 batches a timer turn, so that the event loop can deliver a signal (Ctrl-C, SIGTERM) and the
          // run is interrupted within seconds, not at the end of a long epoch
          if (batches % 16 === 0) yield* Effect.sleep(0);
        }
      }
      const meanLoss = batches > 0 ? lossSum / batches : NaN;
      losses.push(meanLoss);
      if (settings.onEpoch) yield* settings.onEpoch(epoch, meanLoss);
    }
    const report = { epochLosses: losses, stepsByVariable: steps, multipliersByEpoch: used };
    if (last >= settings.epochs) return report;
    const entries = [...slots];
    const moments = yield* readAll(entries.flatMap(([, s]) => [s.m, s.v]));
    const saved = new Map(
      entries.map(([name, s], i) => [name, { m: moments[2 * i], v: moments[2 * i + 1], step: s.step }]),
    );
    return { ...report, paused: { epoch: last, slots: saved, ...report } };
  }).pipe(Effect.scoped);

/** Where a training step's forward pass starts: the images, or cached activations of a frozen prefix. */
interface Pass {
  input(idx: Int32Array): tf.Tensor;
  forward(x: tf.Tensor): ForwardResult;
}

/** The pass of an epoch that trains `active`: from the prefix cache when it can serve it. */
const passFor = (
  model: Model,
  data: Split,
  active: ReadonlyArray<NamedVariable>,
  settings: TrainSettings,
): Effect.Effect<Pass> =>
  Effect.gen(function* () {
    const mode = settings.batchNormMode;
    if (mode === "eval" && settings.prefixCache) {
      const from = firstStageUsing(model, new Set(active.map((p) => p.name)));
      const features = yield* settings.prefixCache.readFeatures(data, from);
      if (features) {
        return {
          input: (idx) => batchRows(features.rows, features.rowShape, idx),
          forward: (x) => runStages(model.stages!, x, mode, from),
        };
      }
    }
    return {
      input: (idx) => batchImages(data, model.inputShape, idx),
      forward: (x) => model.forward(x as tf.Tensor4D, mode),
    };
  });

/** One Adam step on one batch; returns the batch loss (the step is skipped when it is not finite). */
const step = (
  model: Model,
  pass: Pass,
  data: Split,
  idx: Int32Array,
  active: ReadonlyArray<NamedVariable>,
  mult: ReadonlyMap<string, number>,
  slots: Map<string, AdamSlot>,
  settings: TrainSettings,
): Effect.Effect<number> => {
  for (const p of active) {
    if (!slots.has(p.name)) {
      slots.set(p.name, adamSlot(p.variable));
    }
  }
  // the loss, the gradients and the new running statistics, kept past the tidy until the loss is read
  let kept: { value: tf.Scalar; grads: tf.NamedTensorMap; updates: ReadonlyArray<readonly [tf.Variable, tf.Tensor]> };
  tf.tidy(() => {
    const x = pass.input(idx);
    const y = tf.oneHot(tf.tensor1d(batchLabels(data, idx), "int32"), model.numClasses);
    let updates: ReadonlyArray<readonly [tf.Variable, tf.Tensor]> = [];
    const { value, grads } = tf.variableGrads(() => {
      const out = pass.forward(x);
      // f runs in its own tidy scope: keep the new running statistics past it.
      updates = out.stateUpdates.map(([variable, next]) => [variable, tf.keep(next)] as const);
      const loss = tf.losses.softmaxCrossEntropy(y, out.logits) as tf.Scalar;
      const penalty = settings.penalty;
      if (!penalty) return loss;
      // L2-SP: α Σ ‖θ − θ₀‖² over the variables being trained
      const terms = active.map((p) => tf.sum(tf.square(tf.sub(p.variable, penalty.anchor.get(p.name)!))));
      return tf.add(loss, tf.mul(tf.addN(terms), penalty.alpha)) as tf.Scalar;
    }, active.map((p) => p.variable));
    for (const g of Object.values(grads)) tf.keep(g);
    kept = { value: tf.keep(value), grads, updates };
  });
  const { value, grads, updates } = kept!;
  const release = Effect.sync(() => {
    value.dispose();
    tf.dispose(Object.values(grads));
    for (const [, next] of updates) next.dispose();
  });
  return readFloats(value).pipe(
    Effect.map(([loss]) => {
      // the caller stops on a loss that is not finite; a diverged step is never applied
      if (!Number.isFinite(loss)) return loss;
      tf.tidy(() => {
        for (const p of active) {
          adamUpdate(
            p.variable,
            grads[p.variable.name],
            slots.get(p.name)!,
            settings.learningRate * (mult.get(p.name) ?? 0),
          );
        }
        for (const [variable, next] of updates) variable.assign(next);
      });
      return loss;
    }),
    Effect.ensuring(release),
  );
};

/**
 * Logits of the model on every example of a split (eval mode), row-major. With a
 * prefix cache, the stages before `from` (which must be unchanged since the cache was
 * filled, or it recomputes them) are not run again. Reads tensors on any backend
 * (see core/read.ts).
 */
export const readPredictions = (
  model: Model,
  data: Split,
  batchSize = 256,
  cached?: { readonly cache: PrefixCache; readonly from: number },
): Effect.Effect<Float32Array> =>
  Effect.gen(function* () {
    const features = cached ? yield* cached.cache.readFeatures(data, cached.from) : undefined;
    const out = new Float32Array(data.count * model.numClasses);
    for (const { start, idx } of inOrder(data.count, batchSize)) {
      const logits = tf.tidy(() =>
        features && cached
          ? runStages(model.stages!, batchRows(features.rows, features.rowShape, idx), "eval", cached.from).logits
          : model.forward(batchImages(data, model.inputShape, idx), "eval").logits
      );
      out.set(
        yield* readFloats(logits).pipe(Effect.ensuring(Effect.sync(() => logits.dispose()))),
        start * model.numClasses,
      );
    }
    return out;
  });

/** {@link readPredictions}, synchronously: on a backend that reads synchronously (every one but webgpu). */
export const predict = (
  model: Model,
  data: Split,
  batchSize = 256,
  cached?: { readonly cache: PrefixCache; readonly from: number },
): Float32Array => runRead("predict", readPredictions(model, data, batchSize, cached));
