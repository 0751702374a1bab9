/**
 * Preparing a run: load the dataset, apply every shift, check what can be checked
 * before any training (target sizes against the shifted data, every selection against
 * the model), and fingerprint the data. `scalpel validate` stops here; `scalpel run`
 * does this before it creates the run directory, so that a mistake in the input leaves
 * nothing behind.
 * @module
 */
import { Effect } from "effect";
import type { FileSystem, Path } from "@effect/platform";
import type { Dataset } from "../dataset.ts";
import { disposeModel } from "../model.ts";
import type { Domains } from "../plugin.ts";
import { rngFor } from "../random.ts";
import { datasetHash } from "../hash.ts";
import { PipelineFileError, PluginError, type UserError } from "../errors.ts";
import { describePlugin } from "../registry.ts";
import type { ResolvedPipeline } from "./load.ts";
import { type Made, makePlugins } from "./make.ts";
import { expandTrials, trainSizes, type Trial } from "./expand.ts";
import { catchPluginFailures, errorText } from "./guard.ts";
import { shiftId } from "./trial.ts";

/** A pipeline ready to run: its plugins made, its dataset loaded and checked, its trials expanded. */
export interface Prepared {
  readonly p: ResolvedPipeline;
  readonly made: Made;
  /** The dataset as loaded (before any shift). */
  readonly base: Dataset;
  /** Content hash of `base` (recorded in the run directory: a resume on other data is refused). */
  readonly dataHash: string;
  readonly trials: ReadonlyArray<Trial>;
}

/** Apply shift `index` to the base dataset (its randomness from the shift's own streams). */
export const applyShift = (prepared: Pick<Prepared, "p" | "made" | "base">, index: number) =>
  catchPluginFailures(
    Effect.sync((): Domains => {
      const { p, made, base } = prepared;
      const id = shiftId(p, index);
      return made.shifts[index].apply(base, (path) => rngFor(p.settings.seed, ["shift", id, ...path]));
    }),
  );

/** Load the dataset; a plugin that throws while loading is named. */
const loadDataset = (p: ResolvedPipeline, made: Made) =>
  made.dataset.load.pipe(
    Effect.catchAllDefect((e) =>
      Effect.fail(
        new PluginError({
          kind: "dataset",
          name: p.dataset.plugin.name,
          where: `${p.file}: ${p.dataset.path}`,
          detail: `failed while loading: ${errorText(e)} [${describePlugin(p.dataset.plugin)}]`,
          known: [],
        }),
      )
    ),
  );

/** Why the shifted data cannot give the target splits the pipeline asks for, or undefined. */
export const targetSizeProblem = (
  target: Dataset,
  sizes: { readonly train: number; readonly val: number; readonly test: number },
): string | undefined => {
  // the largest train size counts (smaller ones are nested in it)
  if (sizes.train + sizes.val > target.train.count) {
    return `target.train + target.val = ${sizes.train} + ${sizes.val} = ${
      sizes.train + sizes.val
    } labelled target examples are asked for, but the target domain has only ${target.train.count} training examples`;
  }
  if (sizes.test > target.test.count) {
    return `target.test = ${sizes.test} test examples are asked for, but the target domain has only ${target.test.count}`;
  }
  return undefined;
};

/**
 * Load and check everything a run needs before it starts: the dataset, every shift
 * (applied once, then dropped), the target sizes, and every selection against a model
 * built for each number of classes.
 */
export const prepare = (
  p: ResolvedPipeline,
  made: Made,
): Effect.Effect<Prepared, UserError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    // the summary groups trials by label: two entries with one label would be merged into one cell
    for (
      const [what, labels, refs] of [
        ["shift", made.shifts.map((s) => s.label), p.shifts],
        ["selection", made.selectors.map((s) => s.label), p.selections],
      ] as const
    ) {
      const first = new Map<string, number>();
      for (let i = 0; i < labels.length; i++) {
        const j = first.get(labels[i]);
        if (j !== undefined) {
          return yield* new PipelineFileError({
            file: p.file,
            detail: `  ${refs[i].path}: this ${what} has the label "${labels[i]}", as ${refs[j].path} has; the ` +
              `summary would merge the two into one cell. Give them different options${
                what === "selection" ? " (or a `label`)" : ""
              }`,
          });
        }
        first.set(labels[i], i);
      }
    }
    const base = yield* loadDataset(p, made);
    const classCounts = new Set<number>();
    for (let s = 0; s < p.shifts.length; s++) {
      // shifts are applied one at a time (a grid of them need not fit in memory at once)
      const { source, target } = yield* applyShift({ p, made, base }, s);
      const problem = targetSizeProblem(target, { ...p.settings.target, train: Math.max(...trainSizes(p)) });
      if (problem) {
        return yield* new PipelineFileError({
          file: p.file,
          detail: `  target: ${problem} (shift ${made.shifts[s].label}, ${p.shifts[s].path}); lower the target ` +
            "sizes, or give the dataset more examples (e.g. a higher trainLimit / testLimit)",
        });
      }
      classCounts.add(source.classNames.length);
    }
    for (const numClasses of classCounts) {
      yield* Effect.acquireUseRelease(
        catchPluginFailures(
          Effect.sync(() =>
            made.model.build({ inputShape: base.shape, numClasses }, rngFor(p.settings.seed, ["model", "init"]))
          ),
        ),
        (model) =>
          Effect.forEach(made.selectors, (selector, i) =>
            Effect.gen(function* () {
              const problem = yield* catchPluginFailures(Effect.sync(() => selector.check?.(model)));
              if (problem !== undefined) {
                return yield* new PipelineFileError({
                  file: p.file,
                  detail: `  ${
                    p.selections[i].path
                  }: selection ${selector.label} cannot run on ${model.architecture}: ${problem}`,
                });
              }
            })),
        (model) => Effect.sync(() => disposeModel(model)),
      );
    }
    return { p, made, base, dataHash: datasetHash(base), trials: expandTrials(p) };
  });

/** Make the plugins of `p` and prepare it (what `scalpel validate` checks). */
export const preparePipeline = (p: ResolvedPipeline) => Effect.flatMap(makePlugins(p), (made) => prepare(p, made));
