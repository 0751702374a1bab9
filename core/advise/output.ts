/**
 * The advisor's output: advice.json (everything), advice.md (a table per cell: the
 * candidates, what each cost, where each was stopped, the pick, and for the zero-cost
 * strategy the signals) and report.html (the same tables, self-contained: no scripts,
 * no network, every text escaped).
 * @module
 */
import { escapeXml } from "../report/html.ts";
import { formatLr } from "../report/format.ts";

/** One candidate of a cell: its validation score at each rung, where it stopped, its compute. */
export interface CandidateAdvice {
  readonly selection: string;
  readonly lr: number;
  /** Validation score (mean over the seeds) after each rung it ran. */
  readonly scores: ReadonlyArray<{ readonly epochs: number; readonly val: number }>;
  /** The rung epoch it was stopped at; null: it survived every rung. */
  readonly stoppedAt: number | null;
  /** Compute units its rungs spent. */
  readonly units: number;
  /** Why it failed (a diverging loss, say). */
  readonly failed?: string;
}

/** The advice for one shift (and target size). */
export interface CellAdvice {
  readonly shift: string;
  readonly trainSize?: number;
  readonly strategy: string;
  /** Fine-tuning seeds the candidates ran on. */
  readonly seeds: ReadonlyArray<number>;
  /** Compute units of the full sweep of this cell, the ceiling, and what the advice spent. */
  readonly sweepUnits: number;
  readonly ceilingUnits: number;
  readonly spentUnits: number;
  /** spentUnits / sweepUnits. */
  readonly fraction: number;
  /** Epoch of each rung. */
  readonly rungs: ReadonlyArray<number>;
  readonly eta?: number;
  readonly candidates: ReadonlyArray<CandidateAdvice>;
  /** The recommended selection and learning rate, and its validation score at its last rung. */
  readonly pick: { readonly selection: string; readonly lr: number; readonly val: number | null };
  /** The zero-cost strategy's signals per selection (normalised scores; rank under the signal used). */
  readonly signals?: {
    readonly signal: string;
    readonly scores: ReadonlyArray<
      { readonly selection: string; readonly rgn?: number; readonly snr?: number; readonly snip?: number; rank: number }
    >;
  };
  /** Wall time of the cell's rungs. */
  readonly seconds: number;
}

/** Everything `scalpel advise` decided. */
export interface Advice {
  readonly pipeline: string;
  readonly strategy: string;
  readonly budget: number;
  readonly signal?: string;
  readonly metric: string;
  readonly cells: ReadonlyArray<CellAdvice>;
}

const num = (x: number | null | undefined, digits = 4) =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const units = (x: number) => Math.round(x).toLocaleString("en-US");
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

interface Table {
  readonly head: ReadonlyArray<string>;
  readonly rows: ReadonlyArray<ReadonlyArray<string>>;
  /** Rows shown in bold (the pick). */
  readonly strong?: ReadonlySet<number>;
}

/** A cell's text: its title, the summary sentences and its tables. */
const cellParts = (c: CellAdvice, metric: string) => {
  const title = c.shift + (c.trainSize === undefined ? "" : ` (${c.trainSize} labelled examples)`);
  const how = c.strategy === "halving"
    ? `successive halving, η ${c.eta}, seed(s) ${c.seeds.join(", ")}, rungs at epochs ${c.rungs.join(", ") || "none"}`
    : `zero-cost ranking by ${c.signals?.signal} on seed ${c.seeds[0]}` +
      (c.rungs.length > 0 ? `, learning rates probed for ${c.rungs[0]} epoch(s)` : ", no probe needed");
  const sentences = [
    `Pick: ${c.pick.selection}, learning rate ${formatLr(c.pick.lr)}` +
    (c.pick.val === null ? "." : ` (validation ${metric} ${num(c.pick.val)}).`),
    `Compute: ${units(c.spentUnits)} of the full sweep's ${units(c.sweepUnits)} units (${pct(c.fraction)}; ` +
    `ceiling ${pct(c.ceilingUnits / c.sweepUnits)}); ${how}.`,
  ];
  const epochs = [...new Set(c.candidates.flatMap((x) => x.scores.map((s) => s.epochs)))].sort((a, b) => a - b);
  const candidates: Table = {
    head: ["selection", "lr", ...epochs.map((e) => `val @ ${e}`), "stopped at epoch", "compute units"],
    rows: c.candidates.map((x) => [
      x.selection,
      formatLr(x.lr),
      ...epochs.map((e) => num(x.scores.find((s) => s.epochs === e)?.val)),
      x.failed ? `failed: ${x.failed}` : x.stoppedAt === null ? "–" : String(x.stoppedAt),
      units(x.units),
    ]),
    strong: new Set(
      c.candidates.flatMap((x, i) => (x.selection === c.pick.selection && x.lr === c.pick.lr ? [i] : [])),
    ),
  };
  const signals: Table | undefined = c.signals && {
    head: ["selection", "rgn", "snr", "snip", `rank by ${c.signals.signal}`],
    rows: c.signals.scores.map((s) => [s.selection, num(s.rgn, 3), num(s.snr, 3), num(s.snip, 3), String(s.rank)]),
  };
  return { title, sentences, tables: signals ? [candidates, signals] : [candidates] };
};

const markdownTable = (t: Table): string => {
  const cell = (text: string, i: number) => (t.strong?.has(i) && text !== "" ? `**${text}**` : text);
  return [
    `| ${t.head.join(" | ")} |`,
    `| ${t.head.map((_, j) => (j === 0 ? "---" : "---:")).join(" | ")} |`,
    ...t.rows.map((r, i) => `| ${r.map((x) => cell(x.replace(/\|/g, "\\|"), i)).join(" | ")} |`),
  ].join("\n");
};

const htmlTable = (t: Table): string =>
  `<table><thead><tr>${t.head.map((h) => `<th>${escapeXml(h)}</th>`).join("")}</tr></thead><tbody>` +
  t.rows.map((r, i) =>
    `<tr${t.strong?.has(i) ? ' class="pick"' : ""}>${r.map((x) => `<td>${escapeXml(x)}</td>`).join("")}</tr>`
  ).join("") + `</tbody></table>`;

const STYLE = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}" +
  "table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{padding:.25em .7em;border-bottom:1px solid #ddd}" +
  "td:not(:first-child),th:not(:first-child){text-align:right}tr.pick td{font-weight:600;background:#eef6ee}";

/** advice.json, advice.md and report.html of `advice`. */
export const renderAdvice = (advice: Advice): { json: string; markdown: string; html: string } => {
  const parts = advice.cells.map((c) => cellParts(c, advice.metric));
  const intro = `Advice for \`${advice.pipeline}\`: strategy ${advice.strategy}` +
    (advice.signal ? ` (${advice.signal})` : "") + `, budget ${advice.budget} of the full sweep's compute ` +
    "(examples through the network: a training example counts 1, an evaluated one 1/3). Candidates are ranked on " +
    `validation ${advice.metric} only; test is never looked at.`;
  const markdown = [
    `# scalpel advise: ${advice.pipeline}`,
    "",
    intro,
    ...parts.flatMap((p) => ["", `## ${p.title}`, "", ...p.sentences, "", p.tables.map(markdownTable).join("\n\n")]),
    "",
  ].join("\n");
  const html = [
    "<!doctype html>",
    `<html lang="en"><head><meta charset="utf-8">`,
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>${escapeXml(`scalpel advise: ${advice.pipeline}`)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${escapeXml(`scalpel advise: ${advice.pipeline}`)}</h1>`,
    `<section id="advice"><p>${escapeXml(intro.replace(/`/g, ""))}</p>`,
    ...parts.map((p) =>
      `<h2>${escapeXml(p.title)}</h2>${p.sentences.map((s) => `<p>${escapeXml(s)}</p>`).join("")}` +
      p.tables.map(htmlTable).join("")
    ),
    "</section></body></html>",
    "",
  ].join("\n");
  return { json: JSON.stringify(advice, null, 2) + "\n", markdown, html };
};
