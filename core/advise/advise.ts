/**
 * `scalpel advise`: which selection (and learning rate) to tune for each shift of a
 * pipeline, at a fraction of the full sweep's compute. Stages: make the plugins and
 * prepare (as `run`) → open the advice directory (lock, resume) → per cell (shift ×
 * target size): cost every selection (compute.ts), plan within the budget (plan.ts),
 * pre-train the source model, run the plan's rungs on a launcher, appending each
 * rung's report to rungs.jsonl as it arrives → write advice.json, advice.md and
 * report.html.
 *
 * Strategies:
 * - `halving`: successive halving with synchronous rungs over every selection ×
 *   learning rate. Each candidate is a trial of the sweep itself (same key, seeded
 *   batches, prefix cache), paused at a rung's epoch and continued from its checkpoint,
 *   so a survivor's validation curve is exactly its full trial's. A rung ranks the
 *   candidates by their best validation score so far, averaged over the plan's seeds
 *   (ties: pipeline order); it never looks at test.
 * - `zero-cost`: rank the selections by a gradient signal at the pre-trained weights
 *   (signals.ts), then race the top-ranked selection's learning rates for a short
 *   probe (a third of the epochs, shorter when the budget says so) on validation.
 *
 * Reproducible: every decision depends only on validation scores of seeded trials, so
 * the advice is the same with 1 or N workers and after a crash: recorded rungs are not
 * run again, and a candidate continues from the checkpoint its last rung wrote.
 * @module
 */
import { Effect } from "effect";
import { FileSystem, Path } from "@effect/platform";
import type { CommandExecutor } from "@effect/platform";
import { CommandLineError, type UserError } from "../errors.ts";
import { TensorBackend } from "../backend.ts";
import { SCALPEL_VERSION } from "../version.ts";
import { inspectCacheDir } from "../cache.ts";
import { writeFileAtomic } from "../store.ts";
import { disposeModel } from "../model.ts";
import { rngFor } from "../random.ts";
import { gradientStatsUnits, readGradientStats } from "../gradstats.ts";
import { resolvedJson, type ResolvedPipeline } from "../pipeline/load.ts";
import { preparePipeline } from "../pipeline/prepare.ts";
import { makeTrialRunner, trialName } from "../pipeline/runner.ts";
import { trainSizes, type Trial } from "../pipeline/expand.ts";
import { shiftId } from "../pipeline/trial.ts";
import { startWorkerPool, type WorkerCommand } from "../pipeline/local_workers.ts";
import { bundleInputOf } from "../pipeline/run.ts";
import type { QueueAddress } from "../queue/address.ts";
import { checkTravellingModules } from "../queue/bundle.ts";
import { openQueueSession } from "../queue/coordinator.ts";
import type { PipelineSource, RungReport } from "../pipeline/protocol.ts";
import type { EpochProgress } from "../progress.ts";
import { type CellSizes, epochCosts, startUnits, sweepUnits } from "./compute.ts";
import { cheapestHalving, type HalvingPlan, planHalving, planProbe, segmentBound, type Strategy } from "./plan.ts";
import { epochZeroMultipliers, rankBy, selectionScores, type Signal } from "./signals.ts";
import { ADVICE_FILES, appendRecord, dirError, openAdviceDirectory, type RungRecord } from "./directory.ts";
import { inProcessRungs, localRungs, queuedRungs, type RungLauncher } from "./launchers.ts";
import { race, type RaceContext } from "./race.ts";
import { type Advice, type CellAdvice, renderAdvice } from "./output.ts";

export { STRATEGIES, type Strategy } from "./plan.ts";
export { ADVICE_FILES } from "./directory.ts";

/** Gradient statistics of the zero-cost ranking: batches of the fine-tuning batch size, and per-example gradients. */
export const RANKING_STATS = { batches: 4, perExample: 32 } as const;

/** How to advise. */
export interface AdviseOptions {
  readonly outDir: string;
  readonly cacheDir: string;
  readonly strategy: Strategy;
  /** The compute ceiling, as a fraction of the full sweep's (per cell). */
  readonly budget: number;
  /** The signal the zero-cost strategy ranks by. */
  readonly signal: Signal;
  /** The first fine-tuning seed the advisor uses (0-based; further seeds follow, wrapping around). */
  readonly seedIndex: number;
  readonly log: (line: string) => Effect.Effect<void>;
  readonly epoch?: (info: EpochProgress) => Effect.Effect<void>;
  /** Run the rungs on the workers of this queue (`--queue`) instead of locally. */
  readonly queue?: QueueAddress;
  /** Run the rungs in this many local worker processes (1: in this process). */
  readonly workers?: {
    readonly count: number;
    readonly command: WorkerCommand;
    readonly source: PipelineSource;
  };
}

/** One cell of the advice: a shift and a number of labelled target examples. */
interface CellRef {
  readonly id: string;
  readonly shiftIndex: number;
  readonly trainSize: number;
  readonly label: string;
}

/** A candidate: a selection and a learning rate. */
interface Candidate {
  readonly selectionIndex: number;
  readonly lr: number;
}

/** Advise on every cell of `p`; writes the advice directory and returns the advice. */
export const advise = (
  p: ResolvedPipeline,
  opts: AdviseOptions,
): Effect.Effect<
  Advice,
  UserError,
  FileSystem.FileSystem | Path.Path | TensorBackend | CommandExecutor.CommandExecutor
> =>
  Effect.gen(function* () {
    const backend = yield* TensorBackend;
    const path = yield* Path.Path;
    const prepared = yield* preparePipeline(p);
    if (opts.queue) yield* checkTravellingModules(p.file, p.settings.plugins);
    yield* inspectCacheDir(opts.cacheDir);
    const S = p.settings.seeds;
    if (opts.seedIndex >= S) {
      return yield* new CommandLineError({
        flag: "--seed-index",
        detail: `${opts.seedIndex} is not one of the pipeline's fine-tuning seeds (it has ${S}: 0 to ${S - 1})`,
        fix: `Give a seed index from 0 to ${S - 1}.`,
      });
    }
    const { epochs: E, batchSize, learningRates } = p.settings.finetune;
    const sizes = (trainSize: number): CellSizes => ({
      train: trainSize,
      val: p.settings.target.val,
      test: p.settings.target.test,
      batchSize,
      epochs: E,
    });
    // what each selection costs per epoch, asked of a model built for the purpose (names and groups are all it needs)
    const perSelection = yield* Effect.acquireUseRelease(
      Effect.sync(() =>
        prepared.made.model.build(
          { inputShape: prepared.base.shape, numClasses: prepared.base.classNames.length },
          rngFor(p.settings.seed, ["advise", "costs"]),
        )
      ),
      (model) => Effect.sync(() => (n: number) => prepared.made.selectors.map((s) => epochCosts(s, model, sizes(n)))),
      (model) => Effect.sync(() => disposeModel(model)),
    );
    const cells: CellRef[] = prepared.made.shifts.flatMap((shift, shiftIndex) =>
      trainSizes(p).map((trainSize) => ({
        id: `${shiftIndex}/${trainSize}`,
        shiftIndex,
        trainSize,
        label: shift.label + (trainSizes(p).length > 1 ? ` n ${trainSize}` : ""),
      }))
    );
    const candidatesAll: Candidate[] = prepared.made.selectors.flatMap((_, selectionIndex) =>
      learningRates.map((lr) => ({ selectionIndex, lr }))
    );
    const seedsFrom = (m: number) => Array.from({ length: m }, (_, j) => (opts.seedIndex + j) % S);
    const costRow = (costs: ReadonlyArray<ReadonlyArray<number>>, c: Candidate) => costs[c.selectionIndex];

    // every plan is made (and a budget too small refused) before anything is created or trained
    type Planned =
      | { readonly kind: "halving"; readonly plan: HalvingPlan }
      | { readonly kind: "zero-cost"; readonly fixed: number; readonly probeCeiling: number };
    const plans = new Map<string, { planned: Planned; sweep: number; ceiling: number; costs: number[][] }>();
    for (const cell of cells) {
      const costs = perSelection(cell.trainSize);
      const s = sizes(cell.trainSize);
      const sweep = sweepUnits(costs, learningRates.length, S, s);
      const ceiling = opts.budget * sweep;
      const tooSmall = (needed: number, what: string) =>
        new CommandLineError({
          flag: "--budget",
          detail: `${opts.budget} of the sweep (${Math.round(ceiling)} of ${Math.round(sweep)} compute units for ` +
            `${cell.label}) is less than ${what} needs (${Math.round(needed)} units, ${
              (needed / sweep).toFixed(3)
            } of the sweep)`,
          fix: `Give --budget ${(Math.ceil((needed / sweep) * 1000) / 1000).toFixed(3)} or more, or fewer ` +
            "selections or learning rates in the pipeline file.",
        });
      if (opts.strategy === "halving") {
        const rows = candidatesAll.map((c) => costRow(costs, c));
        const plan = planHalving({ cost: rows, epochs: E, seeds: S, start: startUnits(s), ceiling });
        if (!plan) return yield* tooSmall(cheapestHalving(rows, startUnits(s)).units, "the cheapest halving plan");
        plans.set(cell.id, { planned: { kind: "halving", plan }, sweep, ceiling, costs });
      } else {
        const fixed = startUnits(s) + gradientStatsUnits(RANKING_STATS, batchSize, s.train);
        // the probe races one selection's learning rates: the dearest selection bounds it before the ranking is known
        const worst = Math.max(...costs.map((row) => row.reduce((a, b) => a + b, 0) / E));
        const needed = fixed + (learningRates.length > 1 ? worst * learningRates.length : 0);
        if (needed > ceiling) return yield* tooSmall(needed, "the ranking and a one-epoch probe");
        plans.set(cell.id, { planned: { kind: "zero-cost", fixed, probeCeiling: ceiling }, sweep, ceiling, costs });
      }
    }

    const manifest = {
      format: "scalpel-advice/1" as const,
      pipeline: resolvedJson(p),
      data: prepared.dataHash,
      backend: backend.name,
      strategy: opts.strategy,
      budget: opts.budget,
      ...(opts.strategy === "zero-cost" ? { signal: opts.signal } : {}),
      seedIndex: opts.seedIndex,
      versions: { scalpel: SCALPEL_VERSION, tfjs: backend.tfjsVersion, deno: Deno.version.deno },
    };
    const dir = yield* openAdviceDirectory(opts.outDir, manifest);
    const recorded = new Map<string, RungReport>();
    const signalsRecorded = new Map<string, Extract<RungRecord, { type: "signals" }>>();
    for (const r of dir.records) {
      if (r.type === "rung") recorded.set(r.id, r.report);
      else signalsRecorded.set(`${r.cell}#${r.seed}`, r);
    }
    if (dir.records.length > 0) yield* opts.log(`resuming: ${dir.records.length} rung records in ${opts.outDir}`);
    const checkpointFile = (key: string, epochs: number) =>
      path.resolve(opts.outDir, ADVICE_FILES.checkpoints, `${key}-${epochs}.ckpt`);

    const trials = new Map(prepared.trials.map((t) => [
      `${t.shiftIndex}|${t.selectionIndex}|${t.trainSize}|${t.seed}|${t.lr}`,
      t,
    ]));
    const trialOf = (cell: CellRef, c: Candidate, seed: number): Trial =>
      trials.get(`${cell.shiftIndex}|${c.selectionIndex}|${cell.trainSize}|${seed}|${c.lr}`)!;

    const runner = yield* makeTrialRunner(prepared, {
      cacheDir: opts.cacheDir,
      log: opts.log,
      onMiss: "train",
    });
    const models = new Set<string>();
    for (const s of new Set(cells.map((c) => c.shiftIndex))) models.add((yield* runner.pretrain(s)).key);

    // where the rungs run: one pool of worker processes for every rung, or this process
    let progress = { done: 0, total: 0 };
    const names = new Map(prepared.trials.map((t) => [t.key, trialName(prepared, t)]));
    const onEpoch = (key: string, epoch: number, epochs: number, loss: number) =>
      opts.epoch
        ? opts.epoch({ trial: names.get(key) ?? key, done: progress.done, total: progress.total, epoch, epochs, loss })
        : Effect.void;
    const byKey = new Map(prepared.trials.map((t) => [t.key, t]));
    const count = opts.workers?.count ?? 1;
    const platform = yield* Effect.context<FileSystem.FileSystem | Path.Path>();
    const session = opts.queue
      ? yield* openQueueSession({
        address: opts.queue,
        bundle: yield* bundleInputOf(prepared, opts, manifest, backend.name, models, prepared.trials.length),
        recorded: dir.records.length,
        log: opts.log,
        onEpoch: (key, epoch, epochs, loss) => onEpoch(key.replace(/-e\d+$/, ""), epoch, epochs, loss),
      })
      : undefined;
    const runRungs: RungLauncher = session ? queuedRungs(session, platform) : opts.workers && count > 1
      ? localRungs(
        yield* startWorkerPool({
          count,
          command: opts.workers.command,
          init: { type: "init", pipeline: opts.workers.source, cacheDir: path.resolve(opts.cacheDir) },
          log: opts.log,
        }),
        onEpoch,
      )
      : inProcessRungs(runner, byKey, platform);
    if (!session && count > 1) yield* opts.log(`running rungs on ${count} worker processes`);

    const record = (cell: CellRef) => (id: string, report: RungReport) =>
      Effect.zipRight(
        appendRecord(opts.outDir, dir.rungsFile, { type: "rung", cell: cell.id, id, report }),
        Effect.sync(() => recorded.set(id, report)),
      );
    const raceContext = (cell: CellRef): RaceContext<Candidate> => ({
      label: cell.label,
      trialOf: (c, seed) => trialOf(cell, c, seed),
      recorded,
      record: record(cell),
      checkpointFile,
      runRungs,
      log: opts.log,
      progress: (done, total) => {
        progress = total === undefined ? { ...progress, done: progress.done + done } : { done, total };
      },
      nameOf: (key) => names.get(key) ?? key,
    });

    const results: CellAdvice[] = [];
    for (const cell of cells) {
      const { planned, sweep, ceiling, costs } = plans.get(cell.id)!;
      const s = sizes(cell.trainSize);
      let spent = 0;
      let candidates: ReadonlyArray<Candidate> = candidatesAll;
      let seeds: number[];
      let rungs: Array<{ epochs: number; keep: number }>;
      let signals: CellAdvice["signals"];
      if (planned.kind === "halving") {
        const plan = planned.plan;
        seeds = seedsFrom(plan.seeds);
        rungs = plan.rungs.map((r, k) => ({ epochs: r.epochs, keep: plan.rungs[k + 1]?.candidates ?? 1 }));
        spent += seeds.length * startUnits(s);
        yield* opts.log(
          `${cell.label}: successive halving of ${candidatesAll.length} candidates on ${seeds.length} seed(s), η ${plan.eta}, ` +
            `rungs at epochs ${plan.rungs.map((r) => r.epochs).join(", ")}; at most ${
              (plan.units / sweep * 100).toFixed(1)
            } % of the sweep's compute`,
        );
      } else {
        seeds = seedsFrom(1);
        const seed = seeds[0];
        const key = `${cell.id}#${seed}`;
        let ranking = signalsRecorded.get(key);
        if (!ranking) {
          const first = trialOf(cell, candidatesAll[0], seed);
          const scores = yield* runner.atStart(first, ({ model, splits }) =>
            Effect.map(
              readGradientStats(model, splits.train, {
                ...RANKING_STATS,
                batchSize,
                rng: rngFor(p.settings.seed, ["advise-signals", shiftId(p, cell.shiftIndex), seed, cell.trainSize]),
              }),
              (stats) => {
                const sizes = new Map(model.params.map((v) => [v.name, v.variable.size]));
                return prepared.made.selectors.map((sel) =>
                  selectionScores(epochZeroMultipliers(sel, model, E, stats), stats, sizes) ?? null
                );
              },
            ));
          ranking = {
            type: "signals",
            cell: cell.id,
            seed,
            scores,
            compute: gradientStatsUnits(RANKING_STATS, batchSize, s.train),
          };
          yield* appendRecord(opts.outDir, dir.rungsFile, ranking);
        }
        const order = rankBy(ranking.scores.map((x) => x ?? undefined), opts.signal);
        signals = {
          signal: opts.signal,
          scores: prepared.made.selectors.map((sel, i) => ({
            selection: sel.label,
            ...(ranking!.scores[i] ?? {}),
            rank: order.indexOf(i) + 1,
          })),
        };
        spent += startUnits(s) + ranking.compute;
        candidates = learningRates.map((lr) => ({ selectionIndex: order[0], lr }));
        const probe = candidates.length > 1
          ? planProbe({
            cost: candidates.map((c) => costRow(costs, c)),
            wanted: Math.max(1, Math.ceil(E / 3)),
            fixed: spent,
            ceiling: planned.probeCeiling,
          })
          : undefined;
        rungs = probe ? [{ epochs: probe.epochs, keep: 1 }] : [];
        yield* opts.log(
          `${cell.label}: ${opts.signal} ranks ${prepared.made.selectors[order[0]].label} first` +
            (probe ? `; probing its ${candidates.length} learning rates for ${probe.epochs} epoch(s)` : ""),
        );
      }
      // the plan's bound of what is left, checked against the ceiling once more (a bug here must never overspend)
      const bound = spent + (() => {
        let units = 0;
        let done = 0;
        let alive = candidates.length;
        for (const r of rungs) {
          units += seeds.length * segmentBound(candidates.map((c) => costRow(costs, c)), done, r.epochs, alive);
          done = r.epochs;
          alive = r.keep;
        }
        return units;
      })();
      if (bound > ceiling + 1e-6) {
        return yield* Effect.dieMessage(`advise plan exceeds its ceiling (${bound} > ${ceiling})`);
      }
      const t0 = performance.now();
      const raced = yield* race(raceContext(cell), candidates, seeds, rungs);
      spent += [...raced.reports.values()].reduce((a, r) => a + r.compute, 0);
      const pick = raced.survivors.length > 0 ? raced.survivors[0] : 0;
      const lastEpochs = rungs.at(-1)?.epochs ?? 0;
      const epochsRun = [...new Set(rungs.map((r) => r.epochs))];
      results.push({
        shift: prepared.made.shifts[cell.shiftIndex].label,
        ...(trainSizes(p).length > 1 ? { trainSize: cell.trainSize } : {}),
        strategy: opts.strategy,
        seeds,
        sweepUnits: sweep,
        ceilingUnits: ceiling,
        spentUnits: spent,
        fraction: spent / sweep,
        rungs: rungs.map((r) => r.epochs),
        ...(planned.kind === "halving" ? { eta: planned.plan.eta } : {}),
        candidates: candidates.map((c, i) => {
          const failed = seeds.map((sd) => raced.reports.get(`${i}@${raced.stopped.get(i) ?? lastEpochs}#${sd}`))
            .find((r) => r?.status === "failed");
          return {
            selection: prepared.made.selectors[c.selectionIndex].label,
            lr: c.lr,
            scores: epochsRun.filter((e) => seeds.some((sd) => raced.reports.has(`${i}@${e}#${sd}`))).map((e) => ({
              epochs: e,
              val: raced.score(i, e),
            })),
            stoppedAt: raced.stopped.get(i) ?? null,
            units: seeds.reduce(
              (a, sd) => a + epochsRun.reduce((b, e) => b + (raced.reports.get(`${i}@${e}#${sd}`)?.compute ?? 0), 0),
              0,
            ),
            ...(failed ? { failed: (failed.error ?? "").split("\n")[0] } : {}),
          };
        }),
        pick: {
          selection: prepared.made.selectors[candidates[pick].selectionIndex].label,
          lr: candidates[pick].lr,
          val: rungs.length > 0 ? raced.score(pick, lastEpochs) : null,
        },
        ...(signals ? { signals } : {}),
        seconds: Math.round((performance.now() - t0) / 10) / 100,
      });
      if (spent > ceiling + 1e-6) {
        return yield* Effect.dieMessage(`advise spent ${spent} units for ${cell.label}, over its ceiling ${ceiling}`);
      }
    }
    const advice: Advice = {
      pipeline: p.settings.name,
      strategy: opts.strategy,
      budget: opts.budget,
      ...(opts.strategy === "zero-cost" ? { signal: opts.signal } : {}),
      metric: [...recorded.values()].find((r) => r.metric !== "")?.metric ?? "accuracy",
      cells: results,
    };
    const files = renderAdvice(advice);
    const fs = yield* FileSystem.FileSystem;
    for (
      const [name, content] of [
        [ADVICE_FILES.json, files.json],
        [ADVICE_FILES.markdown, files.markdown],
        [ADVICE_FILES.html, files.html],
      ] as const
    ) {
      yield* writeFileAtomic(path.join(opts.outDir, name), content).pipe(
        Effect.mapError(dirError(opts.outDir, `writing ${name}`)),
      );
    }
    // the checkpoints served their purpose once the advice is written (a rerun reads rungs.jsonl only)
    yield* fs.remove(path.join(opts.outDir, ADVICE_FILES.checkpoints), { recursive: true }).pipe(Effect.ignore);
    if (session) yield* session.clear;
    return advice;
  }).pipe(Effect.scoped);
