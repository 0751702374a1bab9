/**
 * scalpel's public API: the plugin helpers and types a custom plugin needs, and
 * `run()` / `validate()` / `advise()` for driving a pipeline file from code.
 *
 * ```ts
 * import { defineShift, Effect, Schema } from "./mod.ts";
 * export default defineShift({ name: "my-shift", description: "…", options: Schema.Struct({}), make: () => … });
 * ```
 * @module
 */
import { Cause, Effect } from "effect";
import { loadPipeline, type ResolvedPipeline } from "./core/pipeline/load.ts";
import { type RunOutcome, runPipeline } from "./core/pipeline/run.ts";
import { preparePipeline } from "./core/pipeline/prepare.ts";
import { type BackendChoice, TensorBackendLive } from "./core/backend.ts";
import type { AnyPlugin } from "./core/plugin.ts";
import type { UserError } from "./core/errors.ts";
import { baseLayer, DEFAULT_CACHE_DIR, endingOf } from "./commands/base.ts";
import { advise as adviseStudy, type Strategy } from "./core/advise/advise.ts";
import type { Signal } from "./core/advise/signals.ts";
import type { Advice } from "./core/advise/output.ts";

export { Effect, Schema } from "effect";
export {
  type AnyPlugin,
  type DatasetImpl,
  defineDataset,
  defineEvaluator,
  defineModel,
  defineSelector,
  defineShift,
  type Domains,
  type EvaluationInput,
  type EvaluatorImpl,
  type ModelImpl,
  type Plugin,
  type PluginKind,
  type SelectionContext,
  type SelectorImpl,
  type ShiftImpl,
} from "./core/plugin.ts";
export type { Dataset, Split } from "./core/dataset.ts";
export { classCounts, imageSize, take, toFloat } from "./core/dataset.ts";
export type { Model, NamedVariable, Snapshot } from "./core/model.ts";
export { Rng, rngFor, type StreamPath } from "./core/random.ts";
export type { FailedLine, ResultLine, TrialOutcome } from "./core/results.ts";
export type { RunOutcome } from "./core/pipeline/run.ts";
export type { Summary } from "./core/report/aggregate.ts";
export type { Advice, CandidateAdvice, CellAdvice } from "./core/advise/output.ts";
export { builtinPlugins } from "./plugins/index.ts";
export * from "./core/errors.ts";

/** Options of `run()`. */
export interface RunOptions {
  /** Run directory (required: the API has no timestamped default). */
  readonly out: string;
  readonly seed?: number;
  readonly backend?: BackendChoice;
  /** Pre-trained model cache (default `.cache/scalpel/models`). */
  readonly cache?: string;
  /** Run the trials that failed in an earlier attempt again. */
  readonly retryFailed?: boolean;
  /** Extra plugins besides the built-in ones and those the file lists. */
  readonly plugins?: ReadonlyArray<AnyPlugin>;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

/** Run an effect; reject with the UserError itself (not a wrapper) when it fails. */
const toPromise = async <A>(effect: Effect.Effect<A, UserError>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect);
  const ending = endingOf(exit);
  if (exit._tag === "Success") return exit.value;
  throw ending._tag === "UserError" ? ending.error : Cause.squash(exit.cause);
};

/**
 * Check a pipeline file as `scalpel validate` does (the file, its plugins, its data, the target sizes, every
 * selection against the model); resolves to the resolved pipeline or rejects with a UserError.
 */
export const validate = (file: string, plugins: ReadonlyArray<AnyPlugin> = []): Promise<ResolvedPipeline> =>
  toPromise(
    Effect.gen(function* () {
      const p = yield* loadPipeline(file);
      yield* preparePipeline(p).pipe(Effect.provide(TensorBackendLive(p.settings.backend)));
      return p;
    }).pipe(Effect.provide(baseLayer(plugins))),
  );

/**
 * Run a pipeline file; resolves to the outcome (summary, run directory; `failed` is set when some trials failed:
 * their failed lines are in results.jsonl) or rejects with a UserError.
 */
export const run = (file: string, options: RunOptions): Promise<RunOutcome> =>
  toPromise(
    Effect.gen(function* () {
      const overrides: { seed?: number; backend?: BackendChoice } = {};
      if (options.seed !== undefined) overrides.seed = options.seed;
      if (options.backend !== undefined) overrides.backend = options.backend;
      const p = yield* loadPipeline(file, overrides);
      return yield* runPipeline(p, {
        outDir: options.out,
        cacheDir: options.cache ?? DEFAULT_CACHE_DIR,
        log: (line) => Effect.sync(() => options.log?.(line)),
        ...(options.retryFailed ? { retryFailed: true } : {}),
      }).pipe(Effect.provide(TensorBackendLive(p.settings.backend)));
    }).pipe(Effect.provide(baseLayer(options.plugins))) as Effect.Effect<RunOutcome, UserError>,
  );

/** Options of `advise()`. */
export interface AdviseApiOptions {
  /** Advice directory (required: the API has no default). */
  readonly out: string;
  /** Compute ceiling as a fraction of the full sweep's (default 0.25). */
  readonly budget?: number;
  readonly strategy?: Strategy;
  /** The zero-cost strategy's signal (default `rgn`). */
  readonly signal?: Signal;
  /** The first fine-tuning seed used (default 0). */
  readonly seedIndex?: number;
  readonly cache?: string;
  readonly plugins?: ReadonlyArray<AnyPlugin>;
  readonly log?: (line: string) => void;
}

/**
 * Advise on a pipeline file as `scalpel advise` does, in this process: resolves to the advice (per shift: the pick,
 * the candidates, the compute spent) or rejects with a UserError.
 */
export const advise = (file: string, options: AdviseApiOptions): Promise<Advice> =>
  toPromise(
    Effect.gen(function* () {
      const p = yield* loadPipeline(file);
      return yield* adviseStudy(p, {
        outDir: options.out,
        cacheDir: options.cache ?? DEFAULT_CACHE_DIR,
        strategy: options.strategy ?? "halving",
        budget: options.budget ?? 0.25,
        signal: options.signal ?? "rgn",
        seedIndex: options.seedIndex ?? 0,
        log: (line) => Effect.sync(() => options.log?.(line)),
      }).pipe(Effect.provide(TensorBackendLive(p.settings.backend)));
    }).pipe(Effect.provide(baseLayer(options.plugins))) as Effect.Effect<Advice, UserError>,
  );
