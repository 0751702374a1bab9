/**
 * The report's SVG charts: bar and error-bar geometry checked by hand, the heat-map
 * colour scale, escaping of hostile labels, and (fast-check) bars that always stay
 * inside the plot area. Also the HTML report assembled from a hand-made summary.
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import {
  type BarLayout,
  barLayout,
  escapeXml,
  formatTick,
  HEAT_STOPS,
  heatColour,
  heatmapLayout,
  LABEL_MAX,
  MISSING_COLOUR,
  niceDomain,
  renderBarChart,
  renderHeatmap,
  textColourOn,
  ticks,
  truncateLabel,
} from "../../core/report/svg.ts";
import { renderHtml } from "../../core/report/html.ts";
import type { Cell, Summary } from "../../core/report/aggregate.ts";

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} ≠ ${b}`);

/** A 240 × 240 chart whose plot area is x 40…230, y 10…210 (height 200). */
const MARGIN = { top: 10, right: 10, bottom: 30, left: 40 };
const base = { title: "t", xLabel: "x", yLabel: "y", width: 240, height: 240, margin: MARGIN, legend: false };

Deno.test("svg: bar geometry by hand", async (t) => {
  await t.step("0.5 on a 0..1 axis of height 200 is a bar of height 100 standing on the x axis", () => {
    const l = barLayout({
      ...base,
      groups: ["g"],
      series: ["s"],
      yDomain: [0, 1],
      data: [{ group: "g", series: "s", value: 0.5 }],
    });
    assert.deepEqual(l.plot, { x: 40, y: 10, width: 190, height: 200 });
    assert.equal(l.bars.length, 1);
    const b = l.bars[0];
    close(b.height, 100, "height");
    close(b.y, 110, "y (top of the bar)");
    close(b.y + b.height, 210, "bottom = x axis");
    close(l.baseline, 210, "baseline");
    // slot 190, inner 80 % = 152 centred (19 px each side), one bar of 152 with 5 % padding
    close(b.x, 40 + 19 + 7.6, "x");
    close(b.width, 136.8, "width");
    assert.equal(b.errorBar, undefined, "no SE, no error bar");
  });
  await t.step("error bar spans value ± SE", () => {
    const l = barLayout({
      ...base,
      groups: ["g"],
      series: ["s"],
      yDomain: [0, 1],
      data: [{ group: "g", series: "s", value: 0.5, se: 0.1 }],
    });
    const e = l.bars[0].errorBar!;
    close(e.y1, 90, "top of the error bar (0.6)");
    close(e.y2, 130, "bottom of the error bar (0.4)");
    close(e.x, 40 + 19 + 76, "centred on the bar");
  });
  await t.step("error bar and bar are clipped at the axis ends", () => {
    const l = barLayout({
      ...base,
      groups: ["g"],
      series: ["a", "b"],
      yDomain: [0, 1],
      data: [{ group: "g", series: "a", value: 0.95, se: 0.1 }, { group: "g", series: "b", value: 1.3 }],
    });
    close(l.bars[0].errorBar!.y1, 10, "error bar cut at 1.0");
    close(l.bars[0].errorBar!.y2, 210 - 0.85 * 200, "lower end 0.85");
    assert.equal(l.bars[1].clipped, true);
    close(l.bars[1].y, 10, "a value above the axis ends at the top");
    close(l.bars[1].height, 200, "full height");
  });
  await t.step("negative values hang below the zero line", () => {
    const l = barLayout({
      ...base,
      groups: ["g"],
      series: ["s"],
      yDomain: [-1, 1],
      data: [{ group: "g", series: "s", value: -0.5 }],
    });
    close(l.baseline, 110, "zero in the middle");
    close(l.bars[0].y, 110, "bar starts at zero");
    close(l.bars[0].height, 50, "half of the half-height");
  });
  await t.step("groups × series: bars side by side in pipeline order, missing cells left out", () => {
    const data = [
      { group: "g1", series: "s1", value: 0.1 },
      { group: "g1", series: "s2", value: 0.2 },
      { group: "g2", series: "s1", value: 0.3 },
    ];
    const l = barLayout({ ...base, groups: ["g1", "g2"], series: ["s1", "s2"], data });
    assert.deepEqual(l.bars.map((b) => `${b.group}/${b.series}`), ["g1/s1", "g1/s2", "g2/s1"]);
    assert.ok(l.bars[0].x < l.bars[1].x && l.bars[1].x < l.bars[2].x);
    close(l.groupCentres[1] - l.groupCentres[0], 95, "one slot per group");
  });
  await t.step("the default axis covers zero and every value ± SE with nice ends", () => {
    const l = barLayout({
      ...base,
      groups: ["g"],
      series: ["a", "b"],
      data: [{ group: "g", series: "a", value: -3.2, se: 0.5 }, { group: "g", series: "b", value: 7.1, se: 1 }],
    });
    assert.deepEqual(l.yDomain, [-4, 10]);
    assert.ok(l.bars.every((b) => !b.clipped));
  });
});

Deno.test("svg: ticks and nice domains", () => {
  assert.deepEqual(ticks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(ticks(0, 100), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(ticks(-4, 10), [-4, -2, 0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceDomain(0.03, 0.87), [0, 1]);
  assert.deepEqual(niceDomain(-0.3, 0.3), [-0.3, 0.3]);
  assert.deepEqual(niceDomain(2, 2), [1, 3], "a zero-width interval is widened");
  assert.deepEqual(niceDomain(0, 1e-323), [-1, 1], "so is one too narrow to scale");
  assert.equal(formatTick(0.2, 0.2), "0.2");
  assert.equal(formatTick(40, 20), "40");
  assert.equal(formatTick(0.05, 0.05), "0.05");
  assert.equal(formatTick(-0, 1), "0");
});

Deno.test("svg: rendered bar chart has accessible name, axes, ticks, one rect per bar", () => {
  const svg = renderBarChart({
    title: "Accuracy",
    xLabel: "shift",
    yLabel: "accuracy (%)",
    groups: ["a", "b"],
    series: ["none", "all"],
    yDomain: [0, 100],
    data: [
      { group: "a", series: "none", value: 50, se: 2 },
      { group: "a", series: "all", value: 70 },
      { group: "b", series: "none", value: 20 },
      { group: "b", series: "all", value: 90, se: 1 },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]* role="img" aria-label="Accuracy"/);
  assert.match(svg, /<title>Accuracy<\/title>/);
  assert.equal(svg.match(/<rect class="bar"/g)?.length, 4);
  assert.equal(svg.match(/<g class="error-bar"/g)?.length, 2);
  assert.equal(svg.match(/<text class="tick"/g)?.length, 6, "0, 20, …, 100");
  assert.match(svg, />accuracy \(%\)<\/text>/);
  assert.match(svg, />shift<\/text>/);
  assert.match(svg, /<g class="legend">[\s\S]*>none<\/text>[\s\S]*>all<\/text>/);
});

Deno.test("svg: heat-map colour scale", async (t) => {
  await t.step("stops at min, mid, max", () => {
    assert.equal(heatColour(0), HEAT_STOPS[0]);
    assert.equal(heatColour(0.5), HEAT_STOPS[2]);
    assert.equal(heatColour(1), HEAT_STOPS[4]);
    assert.equal(heatColour(-3), HEAT_STOPS[0], "clamped");
    assert.equal(heatColour(7), HEAT_STOPS[4], "clamped");
    assert.equal(heatColour(NaN), MISSING_COLOUR);
    assert.equal(heatColour(0.125), "#402a70", "halfway between the first two stops");
  });
  await t.step("cells take the colour of their position between the lowest and highest value", () => {
    const l = heatmapLayout({
      title: "h",
      rows: ["r"],
      columns: ["lo", "mid", "hi", "gone"],
      cells: [
        { row: "r", column: "lo", value: 20 },
        { row: "r", column: "mid", value: 50 },
        { row: "r", column: "hi", value: 80, marked: true },
      ],
      rowLabel: "shift",
      columnLabel: "selection",
      legendLabel: "acc",
    });
    assert.deepEqual(l.domain, [20, 80]);
    assert.deepEqual(l.cells.map((c) => c.fill), [HEAT_STOPS[0], HEAT_STOPS[2], HEAT_STOPS[4], MISSING_COLOUR]);
    assert.equal(l.cells[3].value, undefined);
    assert.deepEqual(l.cells.map((c) => c.marked), [false, false, true, false]);
    assert.equal(textColourOn(HEAT_STOPS[0]), "#ffffff", "white on dark purple");
    assert.equal(textColourOn(HEAT_STOPS[4]), "#000000", "black on yellow");
  });
  await t.step("rendered: a value in every cell, a gradient legend with min/mid/max", () => {
    const svg = renderHeatmap({
      title: "Heat",
      rows: ["r1", "r2"],
      columns: ["c1", "c2"],
      cells: [
        { row: "r1", column: "c1", value: 10 },
        { row: "r1", column: "c2", value: 30 },
        { row: "r2", column: "c1", value: 20 },
      ],
      rowLabel: "shift",
      columnLabel: "selection",
      legendLabel: "acc (%)",
      format: (v) => v.toFixed(1),
      idPrefix: "h1",
    });
    assert.match(svg, /role="img" aria-label="Heat"/);
    assert.equal(svg.match(/<rect class="cell"/g)?.length, 4);
    assert.deepEqual([...svg.matchAll(/<text class="cell-value"[^>]*>([^<]*)</g)].map((m) => m[1]), [
      "10.0",
      "30.0",
      "20.0",
      "–",
    ]);
    assert.match(svg, /<linearGradient id="h1-scale"/);
    assert.match(svg, /fill="url\(#h1-scale\)"/);
    assert.deepEqual([...svg.matchAll(/<text class="legend-tick"[^>]*>([^<]*)</g)].map((m) => m[1]), [
      "10.0",
      "20.0",
      "30.0",
    ]);
  });
});

const EVIL = `<script>alert("x")</script>' onload="alert(1)`;

Deno.test("svg: labels are escaped (no markup injection from plugin names)", () => {
  assert.equal(escapeXml(`<a href="x">&'`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  const bar = renderBarChart({
    ...base,
    title: EVIL,
    groups: [EVIL],
    series: [EVIL],
    legend: true,
    data: [{ group: EVIL, series: EVIL, value: 0.5, se: 0.1 }],
  });
  const heat = renderHeatmap({
    title: EVIL,
    rows: [EVIL],
    columns: [EVIL],
    cells: [{ row: EVIL, column: EVIL, value: 1 }],
    rowLabel: EVIL,
    columnLabel: EVIL,
    legendLabel: EVIL,
    idPrefix: EVIL,
  });
  for (const svg of [bar, heat]) {
    assert.ok(!svg.includes("<script"), "no script element");
    assert.ok(!svg.includes(`"alert`) && !svg.includes(`onload="`), "no attribute break-out");
    assert.match(svg, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;&#39; onload=&quot;alert\(1\)/);
  }
});

Deno.test("svg: long labels are cut with … and keep their full text in a tooltip", () => {
  const long = "gaussian_noise-severity-5-with-a-very-long-<name>-indeed";
  assert.equal(truncateLabel("short"), "short");
  assert.equal([...truncateLabel(long)].length, LABEL_MAX);
  assert.ok(truncateLabel(long).endsWith("…"));
  const svg = renderBarChart({
    ...base,
    groups: [long],
    series: ["s"],
    data: [{ group: long, series: "s", value: 1 }],
  });
  const label = svg.match(/<text class="group-label"[^>]*>([^<]*)<title>([^<]*)<\/title><\/text>/);
  assert.ok(label, "a cut label with a tooltip");
  assert.equal(label[1], escapeXml(truncateLabel(long)));
  assert.equal(label[2], escapeXml(long));
});

/** Every bar, and every error bar, lies inside the plot area. */
const insidePlot = (l: BarLayout) => {
  const { plot } = l;
  const eps = 1e-6;
  for (const b of l.bars) {
    assert.ok(b.height >= 0 && b.width > 0);
    assert.ok(b.x >= plot.x - eps && b.x + b.width <= plot.x + plot.width + eps, `bar x ${b.x}`);
    assert.ok(b.y >= plot.y - eps && b.y + b.height <= plot.y + plot.height + eps, `bar y ${b.y} h ${b.height}`);
    if (b.errorBar) {
      const e = b.errorBar;
      assert.ok(e.x >= plot.x && e.x <= plot.x + plot.width);
      for (const y of [e.y1, e.y2]) assert.ok(y >= plot.y - eps && y <= plot.y + plot.height + eps, `error y ${y}`);
      assert.ok(e.y1 <= e.y2);
    }
  }
};

const chartArb = (value: fc.Arbitrary<number>, se: fc.Arbitrary<number>) =>
  fc.record({
    groups: fc.integer({ min: 1, max: 6 }),
    series: fc.integer({ min: 1, max: 8 }),
    width: fc.integer({ min: 200, max: 1400 }),
    height: fc.integer({ min: 150, max: 900 }),
    values: fc.array(fc.tuple(value, fc.option(se, { nil: undefined })), { minLength: 48, maxLength: 48 }),
  });

interface ChartCase {
  readonly groups: number;
  readonly series: number;
  readonly width: number;
  readonly height: number;
  readonly values: ReadonlyArray<readonly [number, number | undefined]>;
}

const specOf = (c: ChartCase) => {
  const groups = Array.from({ length: c.groups }, (_, i) => `shift-${i}`);
  const series = Array.from({ length: c.series }, (_, i) => `sel-${i}`);
  const data = groups.flatMap((group, gi) =>
    series.map((s, si) => {
      const [value, se] = c.values[gi * c.series + si];
      return { group, series: s, value, se };
    })
  );
  return { title: "p", xLabel: "x", yLabel: "y", width: c.width, height: c.height, groups, series, data };
};

Deno.test("svg (property): bars stay inside the plot area", async (t) => {
  await t.step("values in [0, 1] with random SEs on a 0..1 axis", () => {
    fc.assert(
      fc.property(
        chartArb(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
        (c) => {
          const spec = specOf(c);
          const l = barLayout({ ...spec, yDomain: [0, 1] });
          assert.equal(l.bars.length, c.groups * c.series);
          insidePlot(l);
        },
      ),
      { numRuns: 300 },
    );
  });
  await t.step("any values and SEs on the default axis: nothing clipped, everything inside", () => {
    fc.assert(
      fc.property(
        chartArb(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true })),
        (c) => {
          const l = barLayout(specOf(c));
          insidePlot(l);
          assert.ok(l.bars.every((b) => !b.clipped), "the default axis holds every value");
          for (const b of l.bars) {
            // the bar's far end is at its value
            const end = b.value >= 0 ? b.y : b.y + b.height;
            assert.ok(Math.abs(end - l.y(b.value)) < 1e-6);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

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

Deno.test("html: the report holds the three charts, the table, the pipeline, and escapes names", () => {
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
  const html = renderHtml(summary, { title: `run ${EVIL}`, lines: ["- dataset: mnist"] }, {
    resolvedPipeline: { name: EVIL, shifts: [{ shift: EVIL }] },
    backend: "wasm",
    versions: { scalpel: "0.1.0", deno: "2.9.6" },
  });
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<title>run &lt;script&gt;/);
  assert.equal(html.match(/<svg /g)?.length, 3);
  assert.equal(html.match(/<rect class="bar"/g)?.length, 6 + 4, "absolute: 2 × 3; relative to all: 2 × 2");
  assert.equal(html.match(/<rect class="cell"/g)?.length, 6);
  assert.ok(!html.includes("<script"), "no script element");
  assert.ok(!/(src|href)=/.test(html), "no external references");
  assert.match(html, /<td class="num best"><strong>80\.0 ± 2\.0<\/strong><\/td>/);
  assert.match(html, /<td class="num">10\.0<\/td>/, "no ± with one seed");
  // relative chart: block1 on noise is 80 − 70 = +10 pp, with √(2² + 2²) = 2.83 as its error bar
  assert.match(html, /noise × block1: \+10\.0 ± 2\.8/);
  assert.match(html, /<pre class="pipeline">\{\n {2}&quot;name&quot;: &quot;&lt;script&gt;/);
  assert.match(html, /<th scope="row">backend<\/th><td>wasm<\/td>/);
  assert.match(html, /<th scope="row">deno<\/th><td>2\.9\.6<\/td>/);
});

Deno.test("html: without an `all` selection there is a note instead of the relative chart", () => {
  const summary: Summary = {
    metric: "accuracy",
    shifts: ["noise"],
    selections: ["none", "block1"],
    trainSizes: [],
    cells: [cell("noise", "none", 0.4, undefined), cell("noise", "block1", 0.8, undefined, true)],
  };
  const html = renderHtml(summary, { title: "t", lines: [] }, { resolvedPipeline: {}, backend: "cpu", versions: {} });
  assert.equal(html.match(/<svg /g)?.length, 2);
  assert.match(html, /No <code>all<\/code> selection/);
});
