/**
 * The report's charts as Vega-Lite specs, rendered to SVG headless (vega-lite compiles
 * a spec to Vega; a Vega View with no renderer writes the SVG string: no DOM, no
 * canvas, no script in the page). Each spec carries its data inline, so the same JSON
 * written beside the report (`charts/<name>.vl.json`) opens in any Vega-Lite tool.
 *
 * - {@link barChartSpec}: per group (shift) one bar per series (layer subset), ± one
 *   standard error as a rule, the value printed above each bar;
 * - {@link heatmapSpec}: rows × columns coloured by value, the value printed in each
 *   cell, the best cell of each row outlined;
 * - {@link lineChartSpec}: value against the number of target examples (log scale),
 *   one line per series, with error bars.
 *
 * Text from a run (titles, shift and selection names, which come from user plugins)
 * is data, never markup: Vega escapes it in the SVG.
 * @module
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** A Vega-Lite spec (top level), as JSON. */
export type ChartSpec = Record<string, unknown>;

/** The Vega-Lite schema URL a spec names. */
export const VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** One bar: its group (x category), series (colour), value and optional standard error. */
export interface BarDatum {
  readonly group: string;
  readonly series: string;
  readonly value: number;
  readonly se?: number | undefined;
}

/** What a grouped bar chart shows. */
export interface BarChartInput {
  readonly title: string;
  readonly description: string;
  readonly groups: ReadonlyArray<string>;
  readonly series: ReadonlyArray<string>;
  readonly data: ReadonlyArray<BarDatum>;
  readonly xLabel: string;
  readonly yLabel: string;
  /** A fixed value axis (e.g. [0, 100] for percentages); otherwise from the data and zero. */
  readonly yDomain?: readonly [number, number];
  /** d3-format of printed values (`.1f`, `+.1f`). */
  readonly format: string;
}

/** Colours of the series: a colour-blind-safe qualitative palette (Paul Tol's "muted"). */
export const SERIES_COLOURS = [
  "#332288",
  "#88ccee",
  "#44aa99",
  "#117733",
  "#999933",
  "#ddcc77",
  "#cc6677",
  "#882255",
  "#aa4499",
  "#dddddd",
] as const;

/** Rounded to 6 decimals: what a chart can show (a denormal standard error would break the axis ticks). */
const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;

const seriesScale = (series: ReadonlyArray<string>) => ({
  domain: [...series],
  range: series.map((_, i) => SERIES_COLOURS[i % SERIES_COLOURS.length]),
});

/** A grouped bar chart with error bars. */
export const barChartSpec = (input: BarChartInput): ChartSpec => {
  const rows = input.data.map((d) => ({
    group: d.group,
    series: d.series,
    value: r6(d.value),
    ...(d.se === undefined || !Number.isFinite(d.se) ? {} : { low: r6(d.value - d.se), high: r6(d.value + d.se) }),
  }));
  const x = { field: "group", type: "nominal", sort: [...input.groups], title: input.xLabel, axis: { labelAngle: 0 } };
  const xOffset = { field: "series", sort: [...input.series] };
  const y = {
    field: "value",
    type: "quantitative",
    title: input.yLabel,
    ...(input.yDomain ? { scale: { domain: [...input.yDomain] } } : {}),
  };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: input.title,
    description: input.description,
    width: Math.max(360, input.groups.length * (input.series.length * 22 + 24)),
    height: 300,
    data: { values: rows },
    encoding: { x, xOffset },
    layer: [
      {
        mark: { type: "bar", tooltip: false },
        encoding: {
          y,
          color: { field: "series", type: "nominal", title: "layer subset", scale: seriesScale(input.series) },
        },
      },
      {
        transform: [{ filter: "isValid(datum.low)" }],
        mark: { type: "rule", color: "#222222", strokeWidth: 1.2 },
        encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" } },
      },
      // the value printed beyond the end of its bar: above a positive one, below a negative one
      ...[["datum.value >= 0", -6], ["datum.value < 0", 12]].map(([test, dy]) => ({
        transform: [{ filter: test }],
        mark: { type: "text", dy, fontSize: 9, color: "#333333" },
        encoding: { y, text: { field: "value", type: "quantitative", format: input.format } },
      })),
    ],
  };
};

/** One heat-map cell. */
export interface HeatCell {
  readonly row: string;
  readonly column: string;
  readonly value: number;
  /** Outlined (the best cell of its row). */
  readonly marked: boolean;
}

/** What a heat-map shows. */
export interface HeatmapInput {
  readonly title: string;
  readonly description: string;
  readonly rows: ReadonlyArray<string>;
  readonly columns: ReadonlyArray<string>;
  readonly cells: ReadonlyArray<HeatCell>;
  readonly rowLabel: string;
  readonly columnLabel: string;
  readonly legendLabel: string;
  readonly format: string;
}

/** A heat-map: colour and printed value per cell, the best of each row outlined. */
export const heatmapSpec = (input: HeatmapInput): ChartSpec => {
  const values = input.cells.map((c) => c.value);
  const middle = values.length === 0 ? 0 : (Math.min(...values) + Math.max(...values)) / 2;
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: input.title,
    description: input.description,
    width: Math.max(240, input.columns.length * 70),
    height: Math.max(120, input.rows.length * 34),
    data: { values: input.cells.map((c) => ({ ...c })) },
    encoding: {
      x: {
        field: "column",
        type: "nominal",
        sort: [...input.columns],
        title: input.columnLabel,
        axis: { labelAngle: 0 },
      },
      y: { field: "row", type: "nominal", sort: [...input.rows], title: input.rowLabel },
    },
    layer: [
      {
        mark: { type: "rect" },
        encoding: {
          color: { field: "value", type: "quantitative", title: input.legendLabel, scale: { scheme: "viridis" } },
          stroke: { condition: { test: "datum.marked", value: "#000000" }, value: null },
          strokeWidth: { condition: { test: "datum.marked", value: 3 }, value: 0 },
        },
      },
      {
        mark: { type: "text", fontSize: 11 },
        encoding: {
          text: { field: "value", type: "quantitative", format: input.format },
          color: { condition: { test: `datum.value > ${middle}`, value: "#000000" }, value: "#ffffff" },
        },
      },
    ],
  };
};

/** One point of a line chart. */
export interface LinePoint {
  readonly series: string;
  readonly x: number;
  readonly value: number;
  readonly se?: number | undefined;
}

/** What a line chart shows. */
export interface LineChartInput {
  readonly title: string;
  readonly series: ReadonlyArray<string>;
  readonly points: ReadonlyArray<LinePoint>;
  readonly xLabel: string;
  readonly yLabel: string;
}

/** Value against a positive x on a log scale, one line per series, ± one standard error. */
export const lineChartSpec = (input: LineChartInput): ChartSpec => {
  const rows = input.points.map((p) => ({
    series: p.series,
    x: p.x,
    value: r6(p.value),
    ...(p.se === undefined || !Number.isFinite(p.se) ? {} : { low: r6(p.value - p.se), high: r6(p.value + p.se) }),
  }));
  const xs = [...new Set(input.points.map((p) => p.x))].sort((a, b) => a - b);
  const x = { field: "x", type: "quantitative", title: input.xLabel, scale: { type: "log" }, axis: { values: xs } };
  const color = { field: "series", type: "nominal", title: "layer subset", scale: seriesScale(input.series) };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: input.title,
    description: `${input.title}: one line per layer subset; error bars ± one standard error.`,
    width: 420,
    height: 260,
    data: { values: rows },
    encoding: { x, color },
    layer: [
      { mark: { type: "line" }, encoding: { y: { field: "value", type: "quantitative", title: input.yLabel } } },
      { mark: { type: "point", filled: true, size: 40 }, encoding: { y: { field: "value", type: "quantitative" } } },
      {
        transform: [{ filter: "isValid(datum.low)" }],
        mark: { type: "rule" },
        encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" } },
      },
    ],
  };
};

/** Vega-Lite's marks (composite ones included). */
const MARKS = new Set([
  "arc",
  "area",
  "bar",
  "image",
  "line",
  "point",
  "rect",
  "rule",
  "text",
  "tick",
  "trail",
  "circle",
  "square",
  "geoshape",
  "boxplot",
  "errorband",
  "errorbar",
]);

/** The mark types a spec names (its own and its layers'), with where. */
const marksOf = (spec: unknown, at: string): Array<[string, unknown]> => {
  if (typeof spec !== "object" || spec === null) return [];
  const s = spec as Record<string, unknown>;
  const own: Array<[string, unknown]> = s.mark === undefined
    ? []
    : [[`${at}mark`, typeof s.mark === "object" && s.mark !== null ? (s.mark as { type?: unknown }).type : s.mark]];
  const layers = Array.isArray(s.layer) ? s.layer.flatMap((l, i) => marksOf(l, `${at}layer[${i}].`)) : [];
  return [...own, ...layers];
};

/**
 * Compile a Vega-Lite spec to Vega; a spec that does not compile throws with the reason
 * (an unknown mark type is named here, since Vega-Lite itself fails on it obscurely).
 */
export const compileSpec = (spec: ChartSpec) => {
  for (const [where, mark] of marksOf(spec, "")) {
    if (typeof mark !== "string" || !MARKS.has(mark)) {
      throw new Error(`${where}: ${JSON.stringify(mark)} is not a Vega-Lite mark (${[...MARKS].join(", ")})`);
    }
  }
  return compile(spec as unknown as TopLevelSpec).spec;
};

const escapeAttribute = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/**
 * Render a spec to an SVG string for inline use: an accessible image (`role="img"`,
 * `aria-label` and `<title>` from the spec's title), with class `chart <kind>`.
 */
export const renderSvg = async (spec: ChartSpec, kind: string): Promise<string> => {
  const view = new vega.View(vega.parse(compileSpec(spec)), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    const titleOf = spec.title;
    const title = typeof titleOf === "string"
      ? titleOf
      : typeof (titleOf as { text?: unknown })?.text === "string"
      ? (titleOf as { text: string }).text
      : kind;
    // the xlink namespace serves images and links, which these charts have none of
    return svg.replace(/ xmlns:xlink="[^"]*"/, "").replace(
      /^<svg ([^>]*)class="marks"([^>]*)>/,
      `<svg $1class="marks chart ${escapeAttribute(kind)}" role="img" aria-label="${escapeAttribute(title)}"$2>` +
        `<title>${escapeAttribute(title)}</title>`,
    );
  } finally {
    view.finalize();
  }
};

/**
 * The data of a pipeline file's own charts: one row per result line of the run, flat —
 * `key`, `status` (`ok` or `failed`), `shift`, `selection`, `trainSize`, `seed`, `lr`,
 * `epoch`, `trainedParams`, `seconds`, each metric as `val_<name>` and `test_<name>`
 * (e.g. `test_accuracy`), and for a failed trial its `error`.
 */
export const resultRows = (
  outcomes: ReadonlyArray<import("../results.ts").TrialOutcome>,
): Array<Record<string, unknown>> =>
  outcomes.map((o) => {
    const base = {
      key: o.key,
      status: o.status ?? "ok",
      shift: o.shift,
      selection: o.selection,
      ...(o.trainSize === undefined ? {} : { trainSize: o.trainSize }),
      seed: o.seed,
      lr: o.lr,
      seconds: o.seconds,
    };
    if (o.status === "failed") return { ...base, error: o.error.message };
    const metrics = Object.fromEntries([
      ...Object.entries(o.val).map(([k, v]) => [`val_${k}`, Number.isFinite(v) ? v : null]),
      ...Object.entries(o.test).map(([k, v]) => [`test_${k}`, Number.isFinite(v) ? v : null]),
    ]);
    return { ...base, epoch: o.epoch, trainedParams: o.trainedParams, ...metrics };
  });
