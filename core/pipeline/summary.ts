/**
 * The last stage of a run: aggregate the outcome lines (mean ± standard error over
 * seeds of the trial chosen on validation; failed trials counted and marked) and write
 * summary.md, summary.csv, summary.json and report.html, each atomically.
 * @module
 */
import { Effect } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { aggregate, type Summary } from "../report/aggregate.ts";
import { renderCsv, renderJson, renderMarkdown } from "../report/render.ts";
import { renderHtml } from "../report/html.ts";
import { sourceAccuracies } from "../cache.ts";
import { killPoint } from "../killpoint.ts";
import { isFailed, type ResultLine, type TrialOutcome } from "../results.ts";
import { ioError, RUN_FILES, type RunManifest, writeRunFile } from "../run_dir.ts";
import { resultRows } from "../report/charts.ts";
import type { Prepared } from "./prepare.ts";
import { trainSizes } from "./expand.ts";

/** What the summary stage produced. */
export interface Written {
  readonly summary: Summary;
  readonly markdown: string;
}

/** Aggregate `outcomes` (the latest line of each trial of the pipeline) and write the summary files of `dir`. */
export const writeSummary = (
  dir: string,
  prepared: Prepared,
  outcomes: ReadonlyArray<TrialOutcome>,
  manifest: RunManifest,
  cacheDir: string,
): Effect.Effect<Written, import("../errors.ts").RunDirectoryError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const { p, made } = prepared;
    const lines = outcomes.filter((o): o is ResultLine => !isFailed(o));
    const failed = outcomes.filter(isFailed);
    const accuracies = yield* sourceAccuracies(cacheDir, [...new Set(lines.map((l) => l.pretrained))]);
    const metric = lines.length > 0 ? Object.keys(lines[0].val)[0] : "accuracy";
    const summary = aggregate(
      lines,
      metric,
      [...new Set(made.shifts.map((sh) => sh.label))],
      [...new Set(made.selectors.map((sel) => sel.label))],
      p.settings.finetune.learningRates,
      failed,
      trainSizes(p),
    );
    const ctx = {
      title: `scalpel: ${p.settings.name}`,
      lines: [
        `- dataset: ${p.dataset.plugin.name}, model: ${p.model.plugin.name}, backend: ${manifest.backend}, root seed ${p.settings.seed}, ${p.settings.seeds} fine-tuning seed(s)`,
        `- target examples: ${
          trainSizes(p).join(", ")
        } train / ${p.settings.target.val} validation / ${p.settings.target.test} test; ` +
        `fine-tuning up to ${p.settings.finetune.epochs} epochs, learning rates ${
          p.settings.finetune.learningRates.join(", ")
        }`,
        `- pre-training: ${p.settings.pretrain.epochs} epochs on ${
          p.settings.pretrain.examples ?? "all"
        } source examples` +
        (accuracies.length > 0
          ? `; source test accuracy ${accuracies.map((a) => `${(100 * a).toFixed(1)} %`).join(", ")}`
          : ""),
        ...(failed.length > 0
          ? [`- **${failed.length} trial(s) failed** (marked † in the table; their reasons are in results.jsonl)`]
          : []),
      ],
    };
    const markdown = renderMarkdown(summary, ctx);
    const run = { dir };
    yield* writeRunFile(run, RUN_FILES.summaryMd, markdown);
    killPoint("summary");
    yield* writeRunFile(run, RUN_FILES.summaryCsv, renderCsv(summary));
    yield* writeRunFile(run, RUN_FILES.summaryJson, renderJson(summary, ctx));
    const rows = resultRows(outcomes);
    const report = yield* Effect.promise(() =>
      renderHtml(summary, ctx, {
        resolvedPipeline: manifest.pipeline,
        backend: manifest.backend,
        versions: manifest.versions,
        custom: p.charts.map((c) => ({ ...c, spec: { ...c.spec, data: { values: rows } } })),
      })
    );
    // each chart's spec with its data, for restyling it in any Vega-Lite tool
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    yield* fs.makeDirectory(path.join(dir, RUN_FILES.charts), { recursive: true }).pipe(
      Effect.mapError(ioError(dir, `creating ${RUN_FILES.charts}/`)),
    );
    for (const c of report.charts) {
      yield* writeRunFile(
        run,
        path.join(RUN_FILES.charts, `${c.name}.vl.json`),
        JSON.stringify(c.spec, null, 2) + "\n",
      );
    }
    yield* writeRunFile(run, RUN_FILES.reportHtml, report.html);
    return { summary, markdown };
  });
