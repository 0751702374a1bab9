/**
 * The HTML report of a run (`report.html`): one self-contained file — inline CSS
 * and inline SVG, no scripts, no fonts, no network (a Content-Security-Policy
 * forbids any), readable offline and safe to mail. It shows
 *
 * - the paper-style chart: per shift, one bar per layer subset (selection) with
 *   ± standard-error bars (when there are 2 or more seeds);
 * - the same relative to fine-tuning all layers (difference to the `all` cell),
 *   when the pipeline has an `all` selection;
 * - a heat-map shift × selection with the value in each cell;
 * - with a grid of target sizes, a line chart per shift against the size;
 * - the pipeline file's own charts (`report.charts`: Vega-Lite specs over the result lines);
 * - the table of summary.md (best selection per shift marked) and the learning
 *   rate / epoch chosen on validation;
 * - the resolved pipeline, the backend and the versions.
 *
 * Every chart is a Vega-Lite spec (charts.ts) rendered to inline SVG; the specs are
 * returned too, for `charts/<name>.vl.json`. Every text from a run (titles, shift and
 * selection names from user plugins, the pipeline) is escaped.
 * @module
 */
import type { Cell, Summary } from "./aggregate.ts";
import type { ReportContext } from "./render.ts";
import { cellText, failedNote, formatChosen, formatWinner, type Scaling, scalingOf } from "./format.ts";
import { winners } from "./winners.ts";
import {
  barChartSpec,
  type BarDatum,
  type ChartSpec,
  type HeatCell,
  heatmapSpec,
  lineChartSpec,
  renderSvg,
} from "./charts.ts";

/** Escape text for HTML element content and (double- or single-quoted) attribute values. */
export const escapeXml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;",
  );

/** A chart of the report: its file name (`charts/<name>.vl.json`) and its Vega-Lite spec with its data. */
export interface ReportChart {
  readonly name: string;
  readonly spec: ChartSpec;
}

/** A chart of the pipeline file's own (`report.charts`), with the run's result lines as its data. */
export interface CustomChart {
  /** The spec file, as the pipeline file names it. */
  readonly file: string;
  readonly name: string;
  readonly spec: ChartSpec;
}

/** The report and the charts in it. */
export interface RenderedReport {
  readonly html: string;
  readonly charts: ReadonlyArray<ReportChart>;
}

/** What the report shows besides the summary. */
export interface HtmlExtras {
  /** The pipeline with every default filled in (`pipeline.resolved.json`'s `pipeline`). */
  readonly resolvedPipeline: unknown;
  readonly backend: string;
  readonly versions: Readonly<Record<string, string>>;
  /** The pipeline file's own charts (`report.charts`). */
  readonly custom?: ReadonlyArray<CustomChart>;
}

/** The selection that fine-tunes every layer; the relative chart compares against it. */
export const ALL_SELECTION = "all";

const cellOf = (s: Summary, shift: string, selection: string): Cell | undefined =>
  s.cells.find((c) => c.shift === shift && c.selection === selection);

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif;
  margin: 24px auto; max-width: 1100px; padding: 0 16px; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
figure { margin: 0.5em 0 1em; }
figcaption { color: #444; font-size: 0.92em; max-width: 900px; }
svg.chart { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; }
caption { text-align: left; padding: 4px 0; color: #444; }
td.best { font-weight: bold; background: #fff4d6; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 10px; overflow: auto; font-size: 0.85em; }
.note { color: #555; font-style: italic; }
`;

/** Per shift (and size): the winner, its lead over the runner-up and whether that lead exceeds seed noise. */
const winnerList = (s: Summary, scaling: Scaling): string[] => {
  const ws = winners(s);
  if (ws.length === 0) return [];
  return [
    `<p class="note">Winner per shift (lead over the runner-up; clear when it exceeds the standard error of the difference):</p>`,
    `<ul class="winners">`,
    ...ws.map((w) =>
      `<li>${escapeXml(w.shift)}${w.trainSize === undefined ? "" : `, ${w.trainSize} examples`}: ${
        escapeXml(formatWinner(w, scaling))
      }</li>`
    ),
    `</ul>`,
  ];
};

/** The HTML report of a summary, and its charts' specs. */
export const renderHtml = async (summary: Summary, ctx: ReportContext, extras: HtmlExtras): Promise<RenderedReport> => {
  const charts: ReportChart[] = [];
  /** Render `spec` inline, and keep it as `charts/<name>.vl.json`. */
  const chart = async (name: string, spec: ChartSpec) => {
    charts.push({ name, spec });
    return await renderSvg(spec, name);
  };
  // with a size grid, the bar charts, the heat-map and the tables show the largest size; a line chart per shift
  // shows every size
  const largest = Math.max(...summary.trainSizes);
  const s = summary.trainSizes.length === 0
    ? summary
    : { ...summary, cells: summary.cells.filter((c) => c.trainSize === largest) };
  const sizeSection = summary.trainSizes.length === 0 ? [] : await sizeCharts(summary, chart);
  const scaling = scalingOf(s.metric);
  const { percent, scale, digits } = scaling;
  const unit = percent ? " (%)" : "";
  const format = `.${digits}f`;
  const metricLabel = `target test ${s.metric}${unit}`;
  const seedCounts = [...new Set(s.cells.map((c) => c.metrics[s.metric]?.n ?? 0))].sort((a, b) => a - b);
  const seedsText = seedCounts.length === 1 ? `${seedCounts[0]}` : seedCounts.join("–");

  // (a) absolute chart
  const absolute: BarDatum[] = s.cells.flatMap((c) => {
    const m = c.metrics[s.metric];
    if (!m || !Number.isFinite(m.mean)) return [];
    return [{
      group: c.shift,
      series: c.selection,
      value: m.mean * scale,
      se: m.se === undefined ? undefined : m.se * scale,
    }];
  });
  const absoluteSvg = await chart(
    "accuracy-by-subset",
    barChartSpec({
      title: `${cap(metricLabel)} per shift and fine-tuned layer subset`,
      description: `Grouped bar chart: for each shift, one bar per layer subset; error bars are ± one standard error.`,
      groups: s.shifts,
      series: s.selections,
      data: absolute,
      xLabel: "distribution shift",
      yLabel: cap(metricLabel),
      ...(percent ? { yDomain: [0, 100] as const } : {}),
      format,
    }),
  );

  // (b) relative to `all`
  const hasAll = s.selections.includes(ALL_SELECTION) && s.cells.some((c) => c.selection === ALL_SELECTION);
  let relativeSection: string;
  if (hasAll) {
    const others = s.selections.filter((x) => x !== ALL_SELECTION);
    const relative: BarDatum[] = s.cells.flatMap((c) => {
      const ref = cellOf(s, c.shift, ALL_SELECTION)?.metrics[s.metric];
      const m = c.metrics[s.metric];
      if (c.selection === ALL_SELECTION || !m || !ref || !Number.isFinite(m.mean) || !Number.isFinite(ref.mean)) {
        return [];
      }
      const se = m.se !== undefined && ref.se !== undefined ? Math.hypot(m.se, ref.se) * scale : undefined;
      return [{ group: c.shift, series: c.selection, value: (m.mean - ref.mean) * scale, se }];
    });
    const diffUnit = percent ? "percentage points" : s.metric;
    relativeSection = figure(
      await chart(
        "relative-to-all",
        barChartSpec({
          title: `${cap(s.metric)} relative to fine-tuning all layers (${diffUnit})`,
          description: `Difference of each layer subset's mean to the "all" subset of the same shift.`,
          groups: s.shifts,
          series: others,
          data: relative,
          xLabel: "distribution shift",
          yLabel: `difference to "all" (${percent ? "pp" : s.metric})`,
          format: `+${format}`,
        }),
      ),
      `Mean test ${escapeXml(s.metric)} of each layer subset minus that of fine-tuning all layers, in ${diffUnit}; ` +
        `above zero = better than tuning everything. Error bars (with 2 or more seeds): √(SE² + SE<sub>all</sub>²), ` +
        `which overstates the uncertainty since all subsets of a shift share seeds and batch order.`,
    );
  } else {
    relativeSection = `<p class="note">No <code>all</code> selection in this pipeline, so there is no ` +
      `comparison with fine-tuning all layers.</p>`;
  }

  // (c) heat-map
  const heat: HeatCell[] = s.cells.flatMap((c) => {
    const m = c.metrics[s.metric];
    return m && Number.isFinite(m.mean)
      ? [{ row: c.shift, column: c.selection, value: m.mean * scale, marked: c.best }]
      : [];
  });
  const heatSvg = await chart(
    "heatmap",
    heatmapSpec({
      title: `Heat-map of ${metricLabel}: shift × layer subset`,
      description: "Rows: shifts; columns: layer subsets; colour and printed value: mean over seeds. " +
        "Outlined: best subset of the shift.",
      rows: s.shifts,
      columns: s.selections,
      cells: heat,
      rowLabel: "shift",
      columnLabel: "fine-tuned layer subset",
      legendLabel: cap(metricLabel),
      format,
    }),
  );

  // (d) the pipeline file's own charts
  const customSection: string[] = [];
  for (const c of extras.custom ?? []) {
    const drawn = await chart(c.name, c.spec).then(
      (svg) => figure(svg, `From <code>${escapeXml(c.file)}</code>; its data: the run's result lines.`),
      (e) =>
        `<p class="note">The chart of <code>${escapeXml(c.file)}</code> could not be drawn: ${
          escapeXml(String(e instanceof Error ? e.message : e).split("\n")[0])
        }</p>`,
    );
    customSection.push(drawn);
  }

  // (e) tables
  const head = `<tr><th scope="col">selection</th>${
    s.shifts.map((sh) => `<th scope="col">${escapeXml(sh)}</th>`).join("")
  }</tr>`;
  const rows = s.selections.map((sel) => {
    const tds = s.shifts.map((sh) => {
      const c = cellOf(s, sh, sel);
      const text = escapeXml(cellText(c, s.metric, scaling));
      return c?.best ? `<td class="num best"><strong>${text}</strong></td>` : `<td class="num">${text}</td>`;
    });
    return `<tr><th scope="row">${escapeXml(sel)}</th>${tds.join("")}</tr>`;
  });
  const chosenRows = s.selections.map((sel) => {
    const tds = s.shifts.map((sh) => {
      const c = cellOf(s, sh, sel);
      const text = c ? formatChosen(c) : "";
      return `<td>${escapeXml(text)}</td>`;
    });
    const params = s.cells.find((c) => c.selection === sel)?.trainedParams ?? 0;
    return `<tr><th scope="row">${escapeXml(sel)}</th>${tds.join("")}<td class="num">${
      escapeXml(params.toLocaleString("en-US"))
    }</td></tr>`;
  });

  // (f) pipeline, backend, versions
  const versions = Object.entries(extras.versions)
    .map(([k, v]) => `<tr><th scope="row">${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`)
    .join("\n");

  const html = [
    `<!DOCTYPE html>`,
    `<html lang="en">`,
    `<head>`,
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>${escapeXml(ctx.title)}</title>`,
    `<style>${STYLE}</style>`,
    `</head>`,
    `<body>`,
    `<h1>${escapeXml(ctx.title)}</h1>`,
    `<ul class="context">`,
    ...ctx.lines.map((l) => `<li>${escapeXml(l.replace(/^\s*-\s*/, ""))}</li>`),
    `</ul>`,
    `<h2>${escapeXml(cap(metricLabel))} by fine-tuned layer subset</h2>`,
    figure(
      absoluteSvg,
      `Mean over ${escapeXml(seedsText)} fine-tuning seed(s); ` +
        (Math.max(0, ...seedCounts) >= 2
          ? `error bars: ± one standard error (where a cell has 2 or more seeds). `
          : `no error bars with a single seed (set <code>seeds: 2</code> or more for ± standard errors). `) +
        `Learning rate and epoch chosen on target validation data for each seed.`,
    ),
    ...sizeSection,
    `<h2>Relative to fine-tuning all layers</h2>`,
    relativeSection,
    `<h2>Heat-map</h2>`,
    figure(heatSvg, `Colour scale from the lowest to the highest mean; the best subset of each shift is outlined.`),
    ...(customSection.length === 0 ? [] : [`<h2>Charts of this pipeline file</h2>`, ...customSection]),
    `<h2>Table</h2>`,
    `<table class="summary">`,
    `<caption>${
      escapeXml(cap(metricLabel))
    }, mean ± standard error over seeds; <strong>bold</strong> = best selection for the shift.</caption>`,
    `<thead>${head}</thead>`,
    `<tbody>`,
    ...rows,
    `</tbody>`,
    `</table>`,
    ...(failedNote(s.cells) ? [`<p class="note">${escapeXml(failedNote(s.cells)!)}</p>`] : []),
    ...winnerList(summary, scaling),
    `<table class="chosen">`,
    `<caption>Chosen on validation (learning rate / epoch, per seed) and trained parameters.</caption>`,
    `<thead><tr><th scope="col">selection</th>${
      s.shifts.map((sh) => `<th scope="col">${escapeXml(sh)}</th>`).join("")
    }<th scope="col">trained params</th></tr></thead>`,
    `<tbody>`,
    ...chosenRows,
    `</tbody>`,
    `</table>`,
    `<h2>Run</h2>`,
    `<table class="versions">`,
    `<tr><th scope="row">backend</th><td>${escapeXml(extras.backend)}</td></tr>`,
    versions,
    `</table>`,
    `<h3>Resolved pipeline</h3>`,
    `<pre class="pipeline">${escapeXml(JSON.stringify(extras.resolvedPipeline, null, 2) ?? "null")}</pre>`,
    `</body>`,
    `</html>`,
    ``,
  ].join("\n");
  return { html, charts };
};

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

const figure = (svg: string, caption: string) => `<figure>\n${svg}\n<figcaption>${caption}</figcaption>\n</figure>`;

/** Per shift, the metric against the number of labelled target examples, one line per selection (a size grid). */
const sizeCharts = async (
  s: Summary,
  chart: (name: string, spec: ChartSpec) => Promise<string>,
): Promise<string[]> => {
  const { scale, percent } = scalingOf(s.metric);
  const out = [
    `<h2>How much target data</h2>`,
    `<p class="note">Target test ${escapeXml(s.metric)}${
      percent ? " (%)" : ""
    } against the number of labelled target examples fine-tuned on (${
      s.trainSizes.join(", ")
    }; validation and test fixed); error bars ± one standard error. The charts and tables below show ${
      Math.max(...s.trainSizes)
    } examples.</p>`,
  ];
  for (const [i, shift] of s.shifts.entries()) {
    const points = s.cells.filter((c) => c.shift === shift && c.trainSize !== undefined).flatMap((c) => {
      const m = c.metrics[s.metric];
      return m
        ? [{
          series: c.selection,
          x: c.trainSize!,
          value: m.mean * scale,
          se: m.se === undefined ? undefined : m.se * scale,
        }]
        : [];
    });
    const svg = await chart(
      `target-size-${i + 1}`,
      lineChartSpec({
        title: `${shift}: target test ${s.metric} against labelled target examples`,
        series: s.selections,
        points,
        xLabel: "labelled target examples (log scale)",
        yLabel: `target test ${s.metric}${percent ? " (%)" : ""}`,
      }),
    );
    out.push(`<h3>${escapeXml(shift)}</h3>`, `<figure>${svg}</figure>`);
  }
  return out;
};
