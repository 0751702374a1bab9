/**
 * `scalpel validate FILE`: everything `run` checks before it creates a run directory —
 * the file, its plugins, the dataset, every shift against the target sizes, every
 * selection against the model — without training anything; prints the grid's size.
 * @module
 */
import { Command } from "@effect/cli";
import { Console, Effect } from "effect";
import { TensorBackendLive } from "../core/backend.ts";
import { loadPipeline } from "../core/pipeline/load.ts";
import { preparePipeline } from "../core/pipeline/prepare.ts";
import { gridWarning } from "../core/pipeline/estimate.ts";
import { trainSizes } from "../core/pipeline/expand.ts";
import { backendOption, maxTrialsOf, maxTrialsOption, overridesOf, pipelineArg, seedOption } from "./run.ts";

/** `scalpel validate FILE`. */
export const validate = Command.make("validate", {
  pipeline: pipelineArg,
  seed: seedOption,
  backend: backendOption,
  maxTrials: maxTrialsOption,
}, (a) =>
  Effect.gen(function* () {
    const overrides = yield* overridesOf(a.seed, a.backend);
    const maxTrials = yield* maxTrialsOf(a.maxTrials);
    const p = yield* loadPipeline(a.pipeline, overrides, maxTrials === undefined ? {} : { maxTrials });
    const prepared = yield* preparePipeline(p).pipe(
      Effect.provide(TensorBackendLive(p.settings.backend, { threads: 1 })),
    );
    const n = prepared.trials.length;
    yield* Console.log(
      `${a.pipeline} is valid: ${p.shifts.length} shift(s) × ${p.selections.length} selection(s) × ` +
        (trainSizes(p).length > 1 ? `${trainSizes(p).length} target sizes × ` : "") +
        `${p.settings.seeds} seed(s) × ${p.settings.finetune.learningRates.length} learning rate(s) = ${n} trials ` +
        `(dataset ${p.dataset.plugin.name}, model ${p.model.plugin.name}, backend ${p.settings.backend}).`,
    );
    const warning = gridWarning(p, n);
    if (warning) yield* Console.error(`warning: ${warning}`);
  })).pipe(
    Command.withDescription("check a pipeline file (and its data) without running it; prints the number of trials"),
  );
