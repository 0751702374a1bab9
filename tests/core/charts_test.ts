/**
 * The report's charts (Vega-Lite specs rendered headless to SVG): each spec checked
 * against the data it gets — one bar per cell, one error bar per cell with a standard
 * error, one heat-map rect per cell with the best outlined, one point per size — by
 * counting the marks in the SVG Vega writes; hostile labels stay text; the report
 * assembled from a hand-made summary.
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import {
  barChartSpec,
  compileSpec,
  heatmapSpec,
  lineChartSpec,
  renderSvg,
  resultRows,
} from "../../core/report/charts.ts";
import { renderHtml } from "../../core/report/html.ts";
import type { Cell, Summary } from "../../core/report/aggregate.ts";

const EVIL = `<script>alert("x")</script>`;

/** How many marks of a kind (Vega's aria-roledescription: `bar`, `rule mark`, `rect mark`, `point`, …) an SVG holds. */
const marks = (svg: string, role: string) =>
  (svg.match(new RegExp(`aria-roledescription="${role}"`, "g")) ?? []).length;

const cell = (shift: string, selection: string, mean: number, se: number | undefined, best = false): Cell => ({
  shift,
  selection,
  metrics: { accuracy: { mean, se, n: se === undefined ? 1 : 3 } },
  chosenLr: [0.001],
  chosenEpoch: [2],
  trainedParams: 1234,
  groupActivity: {},
  best,
  failed: 0,
});

Deno.test("charts: a bar per (group, series) datum and an error bar per datum with a standard error", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.option(fc.double({ min: 0, max: 5, noNaN: true }), { nil: undefined }), {
        minLength: 20,
        maxLength: 20,
      }),
      async (nGroups, nSeries, ses) => {
        const groups = Array.from({ length: nGroups }, (_, i) => `shift ${i}`);
        const series = Array.from({ length: nSeries }, (_, i) => `subset ${i}`);
        const data = groups.flatMap((group, g) =>
          series.map((s, i) => ({ group, series: s, value: 10 * g + i, se: ses[g * nSeries + i] }))
        );
        const svg = await renderSvg(
          barChartSpec({
            title: "t",
            description: "d",
            groups,
            series,
            data,
            xLabel: "x",
            yLabel: "y",
            format: ".1f",
          }),
          "bar-chart",
        );
        assert.equal(marks(svg, "bar"), nGroups * nSeries);
        assert.equal(marks(svg, "rule mark"), data.filter((d) => d.se !== undefined).length);
      },
    ),
    { numRuns: 15 },
  );
});

Deno.test("charts: heat-map rects per cell, the best outlined; line chart points per size; hostile labels are text", async () => {
  const heat = await renderSvg(
    heatmapSpec({
      title: EVIL,
      description: "d",
      rows: ["a", EVIL],
      columns: ["none", "all"],
      cells: [
        { row: "a", column: "none", value: 10, marked: false },
        { row: "a", column: "all", value: 90, marked: true },
        { row: EVIL, column: "none", value: 50, marked: true },
      ],
      rowLabel: "shift",
      columnLabel: "subset",
      legendLabel: "accuracy",
      format: ".1f",
    }),
    "heatmap",
  );
  assert.equal(marks(heat, "rect mark"), 3, "one rect per cell, none for the missing one");
  assert.equal((heat.match(/stroke="#000000" stroke-width="3"/g) ?? []).length, 2, "the best of each row outlined");
  assert.ok(!heat.includes("<script"), "a label is escaped");
  assert.match(heat, /&lt;script&gt;/);
  assert.match(heat, /^<svg [^>]*class="marks chart heatmap" role="img" aria-label="&lt;script&gt;/);
  assert.match(heat, />90\.0</, "values printed in the cells");

  const line = await renderSvg(
    lineChartSpec({
      title: "s",
      series: ["a", "b"],
      points: [
        { series: "a", x: 10, value: 50, se: 2 },
        { series: "a", x: 100, value: 90, se: 1 },
        { series: "b", x: 10, value: 70 },
        { series: "b", x: 100, value: 71, se: 0.5 },
      ],
      xLabel: "labelled target examples (log scale)",
      yLabel: "y",
    }),
    "line-chart",
  );
  assert.equal(marks(line, "point"), 4);
  assert.equal(marks(line, "rule mark"), 3, "error bars where there is a standard error");
  assert.equal(marks(line, "line mark"), 2, "one line per series");
});

Deno.test("charts: every spec compiles, and names the Vega-Lite schema (opens in any Vega-Lite tool)", () => {
  const spec = barChartSpec({
    title: "t",
    description: "d",
    groups: ["g"],
    series: ["s"],
    data: [{ group: "g", series: "s", value: 1 }],
    xLabel: "x",
    yLabel: "y",
    format: ".1f",
  });
  assert.equal(spec.$schema, "https://vega.github.io/schema/vega-lite/v6.json");
  assert.ok(compileSpec(spec).marks);
  assert.throws(() => compileSpec({ mark: "no-such-mark" }), /mark: "no-such-mark" is not a Vega-Lite mark/);
  assert.throws(() => compileSpec({ layer: [{ mark: { type: "bars" } }] }), /layer\[0\]\.mark: "bars" is not/);
  assert.throws(() => compileSpec({ mark: "bar", encoding: { x: { field: "a", type: "nonsense" } } }), /field type/);
});

Deno.test("charts: result rows flatten each line's metrics (the data of a pipeline file's own charts)", () => {
  const rows = resultRows([
    {
      status: "ok",
      key: "0123456789abcdef",
      shift: "noise",
      shiftRef: {},
      selection: "block1",
      selectionRef: {},
      seed: 1,
      lr: 0.01,
      epoch: 3,
      val: { accuracy: 0.5 },
      test: { accuracy: 0.75, "mean-group-accuracy": NaN },
      valCurve: [0.1, 0.5],
      trainedParams: 42,
      trainedGroups: {},
      groupActivity: {},
      seconds: 2,
      pretrained: "p",
    },
    {
      status: "failed",
      key: "fedcba9876543210",
      shift: "noise",
      selection: "all",
      seed: 0,
      lr: 0.1,
      error: { tag: "TrainingError", message: "loss NaN" },
      seconds: 1,
    },
  ]);
  assert.deepEqual(rows[0], {
    key: "0123456789abcdef",
    status: "ok",
    shift: "noise",
    selection: "block1",
    seed: 1,
    lr: 0.01,
    seconds: 2,
    epoch: 3,
    trainedParams: 42,
    val_accuracy: 0.5,
    test_accuracy: 0.75,
    "test_mean-group-accuracy": null,
  });
  assert.equal(rows[1].error, "loss NaN");
});

Deno.test("html: the report holds the three charts, the table, the pipeline, and escapes names", async () => {
  const summary: Summary = {
    metric: "accuracy",
    shifts: ["noise", EVIL],
    selections: ["none", "block1", "all"],
    trainSizes: [],
    cells: [
      cell("noise", "none", 0.4, 0.01),
      cell("noise", "block1", 0.8, 0.02, true),
      cell("noise", "all", 0.7, 0.02),
      cell(EVIL, "none", 0.1, undefined),
      cell(EVIL, "block1", 0.3, undefined),
      cell(EVIL, "all", 0.9, undefined, true),
    ],
  };
  const { html, charts } = await renderHtml(summary, { title: `run ${EVIL}`, lines: ["- dataset: mnist"] }, {
    resolvedPipeline: { name: EVIL, shifts: [{ shift: EVIL }] },
    backend: "wasm",
    versions: { scalpel: "0.1.0", deno: "2.9.6" },
  });
  assert.deepEqual(charts.map((c) => c.name), ["accuracy-by-subset", "relative-to-all", "heatmap"]);
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<title>run &lt;script&gt;/);
  const svgs = html.match(/<svg [\s\S]*?<\/svg>/g) ?? [];
  assert.equal(svgs.length, 3);
  assert.equal(marks(svgs[0], "bar"), 6, "absolute: 2 shifts × 3 subsets");
  assert.equal(marks(svgs[0], "rule mark"), 3, "error bars where a cell has a standard error");
  assert.equal(marks(svgs[1], "bar"), 4, "relative to all: 2 × 2");
  assert.equal(marks(svgs[2], "rect mark"), 6);
  assert.ok(!html.includes("<script"), "no script element");
  assert.ok(!/(src|href)=/.test(html), "no external references");
  assert.match(html, /<td class="num best"><strong>80\.0 ± 2\.0<\/strong><\/td>/);
  assert.match(html, /<td class="num">10\.0<\/td>/, "no ± with one seed");
  // relative chart: block1 on noise is 80 − 70 = +10 pp, with √(2² + 2²) = 2.83 as its error bar
  const relative = charts[1].spec.data as { values: Array<Record<string, unknown>> };
  const block1 = relative.values.find((v) => v.group === "noise" && v.series === "block1")!;
  assert.ok(Math.abs((block1.value as number) - 10) < 1e-9);
  assert.ok(Math.abs((block1.high as number) - (block1.low as number) - 2 * Math.hypot(2, 2)) < 2e-6); // 6 decimals
  assert.match(svgs[1], />\+10\.0</, "the difference printed with its sign");
  assert.match(html, /<pre class="pipeline">\{\n {2}&quot;name&quot;: &quot;&lt;script&gt;/);
  assert.match(html, /<th scope="row">backend<\/th><td>wasm<\/td>/);
});

Deno.test("html: without an `all` selection there is a note instead of the relative chart", async () => {
  const summary: Summary = {
    metric: "accuracy",
    shifts: ["noise"],
    selections: ["none", "block1"],
    trainSizes: [],
    cells: [cell("noise", "none", 0.4, undefined), cell("noise", "block1", 0.8, undefined, true)],
  };
  const { html } = await renderHtml(summary, { title: "t", lines: [] }, {
    resolvedPipeline: {},
    backend: "cpu",
    versions: {},
  });
  assert.equal(html.match(/<svg /g)?.length, 2);
  assert.match(html, /No <code>all<\/code> selection/);
});

Deno.test("html: a pipeline file's own chart is drawn from the result lines; one that fails to draw is a note", async () => {
  const summary: Summary = {
    metric: "accuracy",
    shifts: ["noise"],
    selections: ["none"],
    trainSizes: [],
    cells: [cell("noise", "none", 0.4, undefined, true)],
  };
  const values = [{ selection: "none", test_accuracy: 0.4 }, { selection: "all", test_accuracy: 0.6 }];
  const { html, charts } = await renderHtml(summary, { title: "t", lines: [] }, {
    resolvedPipeline: {},
    backend: "cpu",
    versions: {},
    custom: [
      {
        file: "mine.vl.json",
        name: "custom-1-mine",
        spec: {
          data: { values },
          mark: "bar",
          encoding: { x: { field: "selection" }, y: { field: "test_accuracy", type: "quantitative" } },
        },
      },
      { file: "bad.vl.json", name: "custom-2-bad", spec: { data: { values }, mark: "no-such-mark" } },
    ],
  });
  assert.match(html, /<h2>Charts of this pipeline file<\/h2>/);
  const mine = html.slice(html.indexOf("custom-1-mine"));
  assert.equal(marks(mine.slice(0, mine.indexOf("</svg>")), "bar"), 2);
  assert.match(html, /The chart of <code>bad\.vl\.json<\/code> could not be drawn/);
  assert.deepEqual(charts.map((c) => c.name).slice(-2), ["custom-1-mine", "custom-2-bad"]);
});
