/**
 * Small SVG charts for the HTML report: a grouped bar chart with error bars and
 * axis ticks, and a heat-map with a colour scale and legend. Each chart is a
 * pure function from data to an SVG string; the geometry is computed by separate
 * pure functions ({@link barLayout}, {@link heatmapLayout}) so tests can check it
 * without parsing SVG.
 *
 * Why our own code rather than a chart library: the report must be ONE
 * self-contained file written by a Deno process with no DOM and no network.
 * The chart libraries that render to SVG (D3, Plotly, Chart.js, Observable Plot)
 * build their output through a DOM (`document`, or jsdom as a heavy stand-in);
 * Vega/Vega-Lite render headlessly only through node-canvas or a headless
 * browser, and embedding their runtime in the page would add a megabyte of
 * script to a report that needs none. Bars, whiskers, ticks and coloured cells
 * are a few hundred lines of arithmetic that we can test exactly.
 *
 * Every piece of text (titles, shift and selection names — which come from user
 * plugins — and numbers) goes through {@link escapeXml}, so a label such as
 * `<script>` is shown, never executed.
 * @module
 */

/** Escape text for XML/HTML element content and (double- or single-quoted) attribute values. */
export const escapeXml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;",
  );

/** Round a coordinate for output (two decimals, no `-0`). */
export const num = (x: number): string => {
  const r = Math.round(x * 100) / 100;
  return String(r === 0 ? 0 : r);
};

/** A linear map from `domain` to `range`. */
export const linearScale = (
  domain: readonly [number, number],
  range: readonly [number, number],
): (x: number) => number => {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (x) => r0 + (x - d0) * k;
};

/** A "nice" step (1, 2 or 5 × 10^k) giving about `count` intervals over [lo, hi]. */
export const tickStep = (lo: number, hi: number, count = 5): number => {
  const raw = Math.abs(hi - lo) / Math.max(1, count);
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const e = raw / power;
  return (e >= 7.07 ? 10 : e >= 3.16 ? 5 : e >= 1.41 ? 2 : 1) * power;
};

/** Remove floating-point noise such as 0.30000000000000004 (12 significant digits). */
const snap = (x: number): number => (x === 0 ? 0 : Number(x.toPrecision(12)));

/** [lo, hi] widened outwards to multiples of the nice step; a zero-width interval is widened first. */
export const niceDomain = (lo: number, hi: number, count = 5): [number, number] => {
  if (hi < lo) [lo, hi] = [hi, lo];
  const magnitude = Math.max(Math.abs(lo), Math.abs(hi));
  if (!(hi - lo > 1e-12 * Math.max(1, magnitude))) {
    // (almost) zero width: centre an interval on it (±1 around values too small to scale)
    const mid = (lo + hi) / 2;
    const pad = magnitude > 1e-6 ? magnitude / 2 : 1;
    lo = mid - pad;
    hi = mid + pad;
  }
  const step = tickStep(lo, hi, count);
  return [snap(Math.floor(lo / step + 1e-9) * step), snap(Math.ceil(hi / step - 1e-9) * step)];
};

/** Tick values inside [lo, hi] at the nice step. */
export const ticks = (lo: number, hi: number, count = 5): number[] => {
  const step = tickStep(lo, hi, count);
  const out: number[] = [];
  for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++) out.push(snap(i * step));
  return out;
};

/** Text of a tick value with as many decimals as its step needs. */
export const formatTick = (value: number, step: number): string => {
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  if (digits > 8) return value === 0 ? "0" : value.toExponential(1);
  const t = value.toFixed(digits);
  return /^-0(\.0*)?$/.test(t) ? t.slice(1) : t;
};

/** Colour-blind safe categorical colours (Okabe & Ito), then a few more. */
export const CATEGORICAL = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#F0E442",
  "#000000",
  "#999999",
  "#882255",
] as const;

/** Colour of the `i`-th series. */
export const seriesColour = (i: number): string => CATEGORICAL[i % CATEGORICAL.length];

/** A rectangle. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Outer margins around a plot area. */
export interface Margin {
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
  readonly left: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Bar chart
// ---------------------------------------------------------------------------------------------------------------

/** One bar: its group (x category), series (colour), value and optional standard error. */
export interface BarDatum {
  readonly group: string;
  readonly series: string;
  readonly value: number;
  /** Half-length of the error bar (drawn as value ± se); omitted or undefined: no error bar. */
  readonly se?: number | undefined;
}

/** What to draw. */
export interface BarChartSpec {
  /** Accessible name of the chart (aria-label and <title>). */
  readonly title: string;
  /** Longer description (<desc>). */
  readonly description?: string;
  readonly groups: ReadonlyArray<string>;
  readonly series: ReadonlyArray<string>;
  readonly data: ReadonlyArray<BarDatum>;
  readonly xLabel: string;
  readonly yLabel: string;
  /** The value axis; default: a nice interval covering 0 and every value ± se. Values outside are clipped. */
  readonly yDomain?: readonly [number, number];
  /** Text of a value in tooltips; default: 3 significant digits. */
  readonly format?: (value: number) => string;
  /** Text of a standard error in tooltips; default: `format`. */
  readonly formatError?: (se: number) => string;
  readonly width?: number;
  readonly height?: number;
  /** Fixed margins (default: computed from the legend and the labels). */
  readonly margin?: Margin;
  /** Draw the legend of the series (default true). */
  readonly legend?: boolean;
}

/** A laid-out bar; `errorBar` spans value − se … value + se, clipped to the axis. */
export interface LaidOutBar extends Rect {
  readonly group: string;
  readonly series: string;
  readonly seriesIndex: number;
  readonly value: number;
  readonly se: number | undefined;
  /** True when the value lies outside the axis and the bar was cut at its edge. */
  readonly clipped: boolean;
  readonly errorBar?: { readonly x: number; readonly y1: number; readonly y2: number; readonly capWidth: number };
}

/** The geometry of a bar chart. */
export interface BarLayout {
  readonly width: number;
  readonly height: number;
  readonly plot: Rect;
  readonly yDomain: readonly [number, number];
  /** Value → y coordinate. */
  readonly y: (value: number) => number;
  readonly yTicks: ReadonlyArray<number>;
  readonly tickStep: number;
  /** y of the value 0 (clamped to the plot area): bars grow from it. */
  readonly baseline: number;
  readonly bars: ReadonlyArray<LaidOutBar>;
  /** Per group: the centre of its slot on the x axis. */
  readonly groupCentres: ReadonlyArray<number>;
  readonly rotateLabels: boolean;
  readonly legend: ReadonlyArray<{ readonly series: string; readonly x: number; readonly y: number }>;
}

const CHAR_WIDTH = 7; // average width of a 12px sans-serif character, for layout estimates

/** Longest axis label drawn in full; longer ones are cut with `…` (the full text in a tooltip). */
export const LABEL_MAX = 32;

/** `s` cut to `max` characters with an ellipsis. */
export const truncateLabel = (s: string, max = LABEL_MAX): string =>
  [...s].length <= max ? s : [...s].slice(0, max - 1).join("") + "…";

/** Escaped label text, cut to `max` characters; a cut label carries its full text as a <title> tooltip. */
const labelContent = (s: string, max = LABEL_MAX): string => {
  const short = truncateLabel(s, max);
  return escapeXml(short) + (short === s ? "" : `<title>${escapeXml(s)}</title>`);
};
const LEGEND_ROW = 20;

const legendItems = (series: ReadonlyArray<string>, left: number, right: number, top: number) => {
  const out: { series: string; x: number; y: number }[] = [];
  let x = left;
  let y = top;
  for (const s of series) {
    const w = 18 + s.length * CHAR_WIDTH + 16;
    if (x > left && x + w > right) {
      x = left;
      y += LEGEND_ROW;
    }
    out.push({ series: s, x, y });
    x += w;
  }
  return out;
};

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** The default value axis: a nice interval covering 0 and every value ± se. */
const defaultDomain = (data: ReadonlyArray<BarDatum>): [number, number] => {
  const finite = data.filter((d) => Number.isFinite(d.value));
  const lo = Math.min(0, ...finite.map((d) => d.value - (d.se ?? 0)));
  const hi = Math.max(0, ...finite.map((d) => d.value + (d.se ?? 0)));
  return niceDomain(lo, hi);
};

/** Lay out a grouped bar chart: groups along x, one bar per series in each group, values along y. */
export const barLayout = (spec: BarChartSpec): BarLayout => {
  const width = spec.width ?? 900;
  const height = spec.height ?? 420;
  const showLegend = spec.legend ?? true;
  const slot0 = (width - 90) / Math.max(1, spec.groups.length);
  const longest = Math.max(0, ...spec.groups.map((g) => [...truncateLabel(g)].length)) * CHAR_WIDTH;
  const rotateLabels = longest > slot0 * 0.9;
  const legendProbe = showLegend ? legendItems(spec.series, 70, width - 20, 0) : [];
  const legendRows = legendProbe.length === 0 ? 0 : legendProbe[legendProbe.length - 1].y / LEGEND_ROW + 1;
  const margin = spec.margin ?? {
    top: 16 + legendRows * LEGEND_ROW,
    right: 20,
    // labels rotated by 30° reach down by half their length and left by 0.87 of it
    bottom: rotateLabels ? 52 + longest * 0.5 : 44,
    left: rotateLabels ? Math.max(70, Math.min(width / 3, 0.87 * longest - slot0 / 2 + 10)) : 70,
  };
  const plot: Rect = {
    x: margin.left,
    y: margin.top,
    width: Math.max(1, width - margin.left - margin.right),
    height: Math.max(1, height - margin.top - margin.bottom),
  };
  let yDomain: readonly [number, number] = spec.yDomain ?? defaultDomain(spec.data);
  if (!(yDomain[1] > yDomain[0])) yDomain = niceDomain(yDomain[0], yDomain[1]);
  const y = linearScale(yDomain, [plot.y + plot.height, plot.y]);
  const top = plot.y;
  const bottom = plot.y + plot.height;
  const baseline = clamp(y(0), top, bottom);
  const slot = plot.width / Math.max(1, spec.groups.length);
  const inner = slot * 0.8;
  const barWidth = inner / Math.max(1, spec.series.length);
  const bars: LaidOutBar[] = [];
  spec.groups.forEach((group, gi) => {
    spec.series.forEach((series, si) => {
      const d = spec.data.find((b) => b.group === group && b.series === series);
      if (!d || !Number.isFinite(d.value)) return;
      const x = plot.x + gi * slot + (slot - inner) / 2 + si * barWidth;
      const vy = clamp(y(d.value), top, bottom);
      const clipped = Math.abs(vy - y(d.value)) > 1e-6; // beyond float noise of the nice domain
      const se = d.se !== undefined && Number.isFinite(d.se) && d.se > 0 ? d.se : undefined;
      const bar: LaidOutBar = {
        group,
        series,
        seriesIndex: si,
        value: d.value,
        se,
        clipped,
        x: x + barWidth * 0.05,
        width: barWidth * 0.9,
        y: Math.min(vy, baseline),
        height: Math.abs(vy - baseline),
        ...(se === undefined ? {} : {
          errorBar: {
            x: x + barWidth / 2,
            y1: clamp(y(d.value + se), top, bottom),
            y2: clamp(y(d.value - se), top, bottom),
            capWidth: Math.min(10, barWidth * 0.5),
          },
        }),
      };
      bars.push(bar);
    });
  });
  const step = tickStep(yDomain[0], yDomain[1]);
  return {
    width,
    height,
    plot,
    yDomain,
    y,
    yTicks: ticks(yDomain[0], yDomain[1]),
    tickStep: step,
    baseline,
    bars,
    groupCentres: spec.groups.map((_, gi) => plot.x + gi * slot + slot / 2),
    rotateLabels,
    legend: showLegend ? legendItems(spec.series, plot.x, width - 20, 8) : [],
  };
};

const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', 'Liberation Sans', sans-serif"`;

const svgOpen = (width: number, height: number, title: string, description: string | undefined, cls: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" class="${escapeXml(cls)}" width="${num(width)}" height="${num(height)}" ` +
  `viewBox="0 0 ${num(width)} ${num(height)}" role="img" aria-label="${escapeXml(title)}" ${FONT} font-size="12">` +
  `<title>${escapeXml(title)}</title>` + (description ? `<desc>${escapeXml(description)}</desc>` : "");

const defaultFormat = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(3));

/** Render a grouped bar chart with error bars as an SVG element (a string). */
export const renderBarChart = (spec: BarChartSpec): string => {
  const l = barLayout(spec);
  const fmt = spec.format ?? defaultFormat;
  const fmtError = spec.formatError ?? fmt;
  const { plot } = l;
  const out: string[] = [svgOpen(l.width, l.height, spec.title, spec.description, "chart bar-chart")];
  // grid lines and y ticks
  out.push(`<g class="y-axis">`);
  for (const t of l.yTicks) {
    const ty = num(l.y(t));
    out.push(
      `<line class="grid" x1="${num(plot.x)}" x2="${num(plot.x + plot.width)}" y1="${ty}" y2="${ty}" ` +
        `stroke="#e3e3e3"/>`,
      `<line x1="${num(plot.x - 5)}" x2="${num(plot.x)}" y1="${ty}" y2="${ty}" stroke="#333"/>`,
      `<text class="tick" x="${num(plot.x - 8)}" y="${ty}" text-anchor="end" dominant-baseline="middle">` +
        `${escapeXml(formatTick(t, l.tickStep))}</text>`,
    );
  }
  out.push(
    `<line x1="${num(plot.x)}" x2="${num(plot.x)}" y1="${num(plot.y)}" y2="${num(plot.y + plot.height)}" ` +
      `stroke="#333"/>`,
    `<text class="axis-label" transform="translate(${num(18)},${num(plot.y + plot.height / 2)}) rotate(-90)" ` +
      `text-anchor="middle" font-size="13">${escapeXml(spec.yLabel)}</text>`,
    `</g>`,
  );
  // bars and error bars
  out.push(`<g class="bars">`);
  for (const b of l.bars) {
    const tip = `${b.group} × ${b.series}: ${fmt(b.value)}${b.se === undefined ? "" : ` ± ${fmtError(b.se)}`}` +
      (b.clipped ? " (outside the axis)" : "");
    out.push(
      `<rect class="bar" data-group="${escapeXml(b.group)}" data-series="${escapeXml(b.series)}" ` +
        `x="${num(b.x)}" y="${num(b.y)}" width="${num(b.width)}" height="${num(b.height)}" ` +
        `fill="${seriesColour(b.seriesIndex)}"><title>${escapeXml(tip)}</title></rect>`,
    );
    if (b.errorBar) {
      const e = b.errorBar;
      const c = e.capWidth / 2;
      out.push(
        `<g class="error-bar" stroke="#222" stroke-width="1.3">` +
          `<line x1="${num(e.x)}" x2="${num(e.x)}" y1="${num(e.y1)}" y2="${num(e.y2)}"/>` +
          `<line x1="${num(e.x - c)}" x2="${num(e.x + c)}" y1="${num(e.y1)}" y2="${num(e.y1)}"/>` +
          `<line x1="${num(e.x - c)}" x2="${num(e.x + c)}" y1="${num(e.y2)}" y2="${num(e.y2)}"/></g>`,
      );
    }
  }
  out.push(`</g>`);
  // x axis (at the baseline) and group labels
  out.push(
    `<g class="x-axis">`,
    `<line x1="${num(plot.x)}" x2="${num(plot.x + plot.width)}" y1="${num(l.baseline)}" y2="${num(l.baseline)}" ` +
      `stroke="#333"/>`,
  );
  const labelY = plot.y + plot.height + 16;
  l.groupCentres.forEach((cx, gi) => {
    const text = labelContent(spec.groups[gi]);
    out.push(
      l.rotateLabels
        ? `<text class="group-label" transform="translate(${num(cx)},${num(labelY)}) rotate(-30)" ` +
          `text-anchor="end">${text}</text>`
        : `<text class="group-label" x="${num(cx)}" y="${num(labelY)}" text-anchor="middle">${text}</text>`,
    );
  });
  out.push(
    `<text class="axis-label" x="${num(plot.x + plot.width / 2)}" y="${num(l.height - 8)}" text-anchor="middle" ` +
      `font-size="13">${escapeXml(spec.xLabel)}</text>`,
    `</g>`,
  );
  // legend
  if (l.legend.length > 0) {
    out.push(`<g class="legend">`);
    for (const item of l.legend) {
      const i = spec.series.indexOf(item.series);
      out.push(
        `<rect x="${num(item.x)}" y="${num(item.y)}" width="12" height="12" fill="${seriesColour(i)}"/>`,
        `<text x="${num(item.x + 17)}" y="${num(item.y + 6)}" dominant-baseline="middle">` +
          `${escapeXml(item.series)}</text>`,
      );
    }
    out.push(`</g>`);
  }
  out.push(`</svg>`);
  return out.join("\n");
};

// ---------------------------------------------------------------------------------------------------------------
// Heat-map
// ---------------------------------------------------------------------------------------------------------------

/** Stops of the sequential colour scale (viridis: perceptually uniform, colour-blind safe, prints in grey). */
export const HEAT_STOPS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"] as const;

/** Colour of missing values. */
export const MISSING_COLOUR = "#dddddd";

const rgb = (hex: string): [number, number, number] => [
  parseInt(hex.slice(1, 3), 16),
  parseInt(hex.slice(3, 5), 16),
  parseInt(hex.slice(5, 7), 16),
];

const hex2 = (x: number) => Math.round(clamp(x, 0, 255)).toString(16).padStart(2, "0");

/** The colour of `t` ∈ [0, 1] on the scale (linear between the stops; clamped; NaN → the missing colour). */
export const heatColour = (t: number): string => {
  if (!Number.isFinite(t)) return MISSING_COLOUR;
  const u = clamp(t, 0, 1) * (HEAT_STOPS.length - 1);
  const i = Math.min(HEAT_STOPS.length - 2, Math.floor(u));
  const f = u - i;
  const a = rgb(HEAT_STOPS[i]);
  const b = rgb(HEAT_STOPS[i + 1]);
  return `#${hex2(a[0] + (b[0] - a[0]) * f)}${hex2(a[1] + (b[1] - a[1]) * f)}${hex2(a[2] + (b[2] - a[2]) * f)}`;
};

/** Black or white, whichever reads better on `background` (by relative luminance). */
export const textColourOn = (background: string): string => {
  const [r, g, b] = rgb(background).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.2 ? "#000000" : "#ffffff";
};

/** One cell of a heat-map. */
export interface HeatCell {
  readonly row: string;
  readonly column: string;
  readonly value: number;
  /** Drawn with a thick outline (e.g. the best selection of a shift). */
  readonly marked?: boolean;
}

/** What to draw. */
export interface HeatmapSpec {
  readonly title: string;
  readonly description?: string;
  readonly rows: ReadonlyArray<string>;
  readonly columns: ReadonlyArray<string>;
  readonly cells: ReadonlyArray<HeatCell>;
  readonly rowLabel: string;
  readonly columnLabel: string;
  /** Caption of the colour legend. */
  readonly legendLabel: string;
  /** The colour scale's interval; default: min … max of the values. */
  readonly domain?: readonly [number, number];
  /** Text printed in each cell. */
  readonly format?: (value: number) => string;
  /** Prefix of element ids (the legend gradient); must be unique in the page. */
  readonly idPrefix?: string;
  readonly cellWidth?: number;
  readonly cellHeight?: number;
}

/** A laid-out heat-map cell. */
export interface LaidOutHeatCell extends Rect {
  readonly row: string;
  readonly column: string;
  /** Undefined: no value for this row × column. */
  readonly value: number | undefined;
  readonly fill: string;
  readonly textFill: string;
  readonly marked: boolean;
}

/** The geometry of a heat-map. */
export interface HeatmapLayout {
  readonly width: number;
  readonly height: number;
  readonly grid: Rect;
  readonly domain: readonly [number, number];
  readonly cells: ReadonlyArray<LaidOutHeatCell>;
  readonly legend: Rect;
}

/** Position of `v` on the colour scale of `domain` (0.5 when the domain has zero width). */
export const scalePosition = (v: number, domain: readonly [number, number]): number =>
  domain[1] > domain[0] ? clamp((v - domain[0]) / (domain[1] - domain[0]), 0, 1) : 0.5;

const ROW_LABEL_MAX = 40;

/** Lay out a heat-map: rows × columns of coloured cells, the legend underneath. */
export const heatmapLayout = (spec: HeatmapSpec): HeatmapLayout => {
  const cw = spec.cellWidth ?? 96;
  const ch = spec.cellHeight ?? 40;
  const rowLabelWidth =
    Math.max(60, ...spec.rows.map((r) => [...truncateLabel(r, ROW_LABEL_MAX)].length * CHAR_WIDTH + 16)) + 24;
  const longestColumn = Math.max(0, ...spec.columns.map((c) => [...truncateLabel(c)].length * CHAR_WIDTH));
  const columnLabelHeight = longestColumn > cw * 0.95 ? longestColumn * 0.5 + 24 : 24;
  const grid: Rect = {
    x: rowLabelWidth,
    y: 28 + columnLabelHeight,
    width: cw * spec.columns.length,
    height: ch * spec.rows.length,
  };
  const values = spec.cells.map((c) => c.value).filter(Number.isFinite);
  const domain: readonly [number, number] = spec.domain ??
    (values.length ? [Math.min(...values), Math.max(...values)] : [0, 1]);
  const cells: LaidOutHeatCell[] = [];
  spec.rows.forEach((row, ri) => {
    spec.columns.forEach((column, ci) => {
      const c = spec.cells.find((x) => x.row === row && x.column === column);
      const value = c && Number.isFinite(c.value) ? c.value : undefined;
      const fill = value === undefined ? MISSING_COLOUR : heatColour(scalePosition(value, domain));
      cells.push({
        row,
        column,
        value,
        fill,
        textFill: textColourOn(fill),
        marked: c?.marked ?? false,
        x: grid.x + ci * cw,
        y: grid.y + ri * ch,
        width: cw,
        height: ch,
      });
    });
  });
  const legendWidth = Math.max(160, Math.min(320, grid.width));
  const legend: Rect = { x: grid.x, y: grid.y + grid.height + 30, width: legendWidth, height: 12 };
  return {
    // rotated column labels reach right by 0.87 of their length from the last column's centre
    width: Math.max(
      grid.x + grid.width + (columnLabelHeight > 24 ? 0.87 * longestColumn - cw / 2 : 0),
      legend.x + legend.width,
    ) +
      30,
    height: legend.y + legend.height + 44,
    grid,
    domain,
    cells,
    legend,
  };
};

const safeId = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, "_");

/** Render a heat-map (value printed in each cell, colour legend below) as an SVG element (a string). */
export const renderHeatmap = (spec: HeatmapSpec): string => {
  const l = heatmapLayout(spec);
  const fmt = spec.format ?? defaultFormat;
  const id = `${safeId(spec.idPrefix ?? "heatmap")}-scale`;
  const out: string[] = [svgOpen(l.width, l.height, spec.title, spec.description, "chart heatmap")];
  out.push(
    `<defs><linearGradient id="${id}" x1="0" x2="1" y1="0" y2="0">`,
    ...HEAT_STOPS.map((c, i) => `<stop offset="${num(i / (HEAT_STOPS.length - 1))}" stop-color="${c}"/>`),
    `</linearGradient></defs>`,
  );
  const { grid } = l;
  // column and row labels
  out.push(
    `<text class="axis-label" x="${num(grid.x + grid.width / 2)}" y="16" text-anchor="middle" font-size="13">` +
      `${escapeXml(spec.columnLabel)}</text>`,
  );
  const rotate = l.grid.y - 28 > 24;
  spec.columns.forEach((c, ci) => {
    const cx = grid.x + (ci + 0.5) * (grid.width / spec.columns.length);
    out.push(
      rotate
        ? `<text class="column-label" transform="translate(${num(cx)},${num(grid.y - 8)}) rotate(-30)" ` +
          `text-anchor="start">${labelContent(c)}</text>`
        : `<text class="column-label" x="${num(cx)}" y="${num(grid.y - 8)}" text-anchor="middle">` +
          `${labelContent(c)}</text>`,
    );
  });
  out.push(
    `<text class="axis-label" transform="translate(14,${num(grid.y + grid.height / 2)}) rotate(-90)" ` +
      `text-anchor="middle" font-size="13">${escapeXml(spec.rowLabel)}</text>`,
  );
  spec.rows.forEach((r, ri) => {
    const cy = grid.y + (ri + 0.5) * (grid.height / Math.max(1, spec.rows.length));
    out.push(
      `<text class="row-label" x="${num(grid.x - 8)}" y="${num(cy)}" text-anchor="end" dominant-baseline="middle">` +
        `${labelContent(r, ROW_LABEL_MAX)}</text>`,
    );
  });
  // cells
  out.push(`<g class="cells">`);
  for (const c of l.cells) {
    const text = c.value === undefined ? "–" : fmt(c.value);
    out.push(
      `<rect class="cell" data-row="${escapeXml(c.row)}" data-column="${escapeXml(c.column)}" ` +
        `x="${num(c.x)}" y="${num(c.y)}" width="${num(c.width)}" height="${num(c.height)}" fill="${c.fill}" ` +
        `stroke="#ffffff" stroke-width="1"><title>${escapeXml(`${c.row} × ${c.column}: ${text}`)}</title></rect>`,
      `<text class="cell-value" x="${num(c.x + c.width / 2)}" y="${num(c.y + c.height / 2)}" text-anchor="middle" ` +
        `dominant-baseline="middle" fill="${c.textFill}"${c.marked ? ` font-weight="bold"` : ""}>` +
        `${escapeXml(text)}</text>`,
    );
  }
  for (const c of l.cells.filter((x) => x.marked)) {
    out.push(
      `<rect class="marked" x="${num(c.x + 1.5)}" y="${num(c.y + 1.5)}" width="${num(c.width - 3)}" ` +
        `height="${num(c.height - 3)}" fill="none" stroke="#d62728" stroke-width="3"/>`,
    );
  }
  out.push(`</g>`);
  // legend: the gradient with min, middle and max labels
  const lg = l.legend;
  const [lo, hi] = l.domain;
  out.push(
    `<g class="legend">`,
    `<text x="${num(lg.x)}" y="${num(lg.y - 8)}">${escapeXml(spec.legendLabel)}</text>`,
    `<rect class="colour-scale" x="${num(lg.x)}" y="${num(lg.y)}" width="${num(lg.width)}" ` +
      `height="${num(lg.height)}" fill="url(#${id})" stroke="#999"/>`,
  );
  const marks: Array<[number, number]> = hi > lo ? [[lo, 0], [(lo + hi) / 2, 0.5], [hi, 1]] : [[lo, 0.5]];
  for (const [v, t] of marks) {
    const x = lg.x + t * lg.width;
    out.push(
      `<line x1="${num(x)}" x2="${num(x)}" y1="${num(lg.y + lg.height)}" y2="${num(lg.y + lg.height + 4)}" ` +
        `stroke="#333"/>`,
      `<text class="legend-tick" x="${num(x)}" y="${num(lg.y + lg.height + 16)}" text-anchor="middle">` +
        `${escapeXml(fmt(v))}</text>`,
    );
  }
  out.push(`</g>`, `</svg>`);
  return out.join("\n");
};

// ---------------------------------------------------------------------------------------------------------------
// Line chart (numeric x, logarithmic; one line per series, ± standard-error bars)
// ---------------------------------------------------------------------------------------------------------------

/** One point of a line chart. */
export interface LinePoint {
  readonly series: string;
  readonly x: number;
  readonly value: number;
  readonly se?: number | undefined;
}

/** What to draw: points by series along a logarithmic x axis (e.g. the number of labelled target examples). */
export interface LineChartSpec {
  readonly title: string;
  readonly description?: string;
  readonly series: ReadonlyArray<string>;
  readonly points: ReadonlyArray<LinePoint>;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly format?: (value: number) => string;
  readonly width?: number;
  readonly height?: number;
}

/** Render a line chart as an SVG element (a string): a polyline, a marker and an error bar per point. */
export const renderLineChart = (spec: LineChartSpec): string => {
  const width = spec.width ?? 900;
  const height = spec.height ?? 400;
  const fmt = spec.format ?? defaultFormat;
  const legend = legendItems(spec.series, 70, width - 20, 12);
  const legendBottom = legend.length === 0 ? 12 : legend[legend.length - 1].y + LEGEND_ROW;
  const plot = { x: 70, y: legendBottom + 12, width: width - 110, height: height - legendBottom - 12 - 56 };
  const finite = spec.points.filter((p) => Number.isFinite(p.value) && p.x > 0);
  const xs = [...new Set(finite.map((p) => p.x))].sort((a, b) => a - b);
  const [lo, hi] = niceDomain(
    Math.min(...finite.map((p) => p.value - (p.se ?? 0)), Infinity),
    Math.max(...finite.map((p) => p.value + (p.se ?? 0)), -Infinity),
  );
  const y = (v: number) => plot.y + plot.height - scalePosition(clamp(v, lo, hi), [lo, hi]) * plot.height;
  const [xlo, xhi] = [Math.log(xs[0] ?? 1), Math.log(xs[xs.length - 1] ?? 10)];
  // 24 px inside each end, so that the first and last points and their error bars are not cut
  const x = (v: number) =>
    xhi === xlo ? plot.x + plot.width / 2 : plot.x + 24 + ((Math.log(v) - xlo) / (xhi - xlo)) * (plot.width - 48);
  const step = tickStep(lo, hi);
  const out: string[] = [svgOpen(width, height, spec.title, spec.description, "chart line-chart")];
  out.push(`<g class="y-axis">`);
  for (const t of ticks(lo, hi)) {
    out.push(
      `<line class="grid" x1="${num(plot.x)}" x2="${num(plot.x + plot.width)}" y1="${num(y(t))}" y2="${num(y(t))}" ` +
        `stroke="#e3e3e3"/>`,
      `<text class="tick" x="${num(plot.x - 8)}" y="${num(y(t))}" text-anchor="end" dominant-baseline="middle">` +
        `${escapeXml(formatTick(t, step))}</text>`,
    );
  }
  out.push(
    `<text class="axis-label" transform="translate(18,${num(plot.y + plot.height / 2)}) rotate(-90)" ` +
      `text-anchor="middle" font-size="13">${escapeXml(spec.yLabel)}</text>`,
    `</g>`,
    `<g class="x-axis">`,
    `<line x1="${num(plot.x)}" x2="${num(plot.x + plot.width)}" y1="${num(plot.y + plot.height)}" ` +
      `y2="${num(plot.y + plot.height)}" stroke="#333"/>`,
  );
  for (const v of xs) {
    out.push(
      `<text class="tick" x="${num(x(v))}" y="${num(plot.y + plot.height + 16)}" text-anchor="middle">${
        escapeXml(String(v))
      }</text>`,
    );
  }
  out.push(
    `<text class="axis-label" x="${num(plot.x + plot.width / 2)}" y="${num(height - 10)}" text-anchor="middle" ` +
      `font-size="13">${escapeXml(spec.xLabel)}</text>`,
    `</g>`,
  );
  spec.series.forEach((s, i) => {
    const mine = finite.filter((p) => p.series === s).sort((a, b) => a.x - b.x);
    if (mine.length === 0) return;
    const colour = seriesColour(i);
    out.push(`<g class="series" data-series="${escapeXml(s)}">`);
    out.push(
      `<polyline class="line" fill="none" stroke="${colour}" stroke-width="2" points="${
        mine.map((p) => `${num(x(p.x))},${num(y(p.value))}`).join(" ")
      }"/>`,
    );
    for (const p of mine) {
      if (p.se !== undefined) {
        out.push(
          `<line class="error-bar" x1="${num(x(p.x))}" x2="${num(x(p.x))}" y1="${num(y(p.value - p.se))}" ` +
            `y2="${num(y(p.value + p.se))}" stroke="${colour}" stroke-width="1.3"/>`,
        );
      }
      const tip = `${s}, ${p.x}: ${fmt(p.value)}${p.se === undefined ? "" : ` ± ${fmt(p.se)}`}`;
      out.push(
        `<circle class="point" cx="${num(x(p.x))}" cy="${num(y(p.value))}" r="3.5" fill="${colour}">` +
          `<title>${escapeXml(tip)}</title></circle>`,
      );
    }
    out.push(`</g>`);
  });
  out.push(`<g class="legend">`);
  for (const item of legend) {
    const i = spec.series.indexOf(item.series);
    out.push(
      `<rect x="${num(item.x)}" y="${num(item.y)}" width="12" height="12" fill="${seriesColour(i)}"/>`,
      `<text x="${num(item.x + 17)}" y="${num(item.y + 6)}" dominant-baseline="middle">${
        escapeXml(item.series)
      }</text>`,
    );
  }
  out.push(`</g>`, `</svg>`);
  return out.join("\n");
};
