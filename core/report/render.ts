/**
 * Render a Summary as Markdown (a shift × selection table, best per shift in bold,
 * plus the hyper-parameters chosen on validation), CSV (long format) and JSON.
 * @module
 */
import type { Cell, Summary } from "./aggregate.ts";
import { cellText, failedNote, formatChosen, formatWinner, scalingOf } from "./format.ts";
import { winners } from "./winners.ts";

/** Context printed above the table. */
export interface ReportContext {
  readonly title: string;
  readonly lines: ReadonlyArray<string>;
}

const cellOf = (s: Summary, shift: string, selection: string): Cell | undefined =>
  s.cells.find((c) => c.shift === shift && c.selection === selection);

/** The Markdown report; with a size grid, one section per number of labelled target examples. */
export const renderMarkdown = (summary: Summary, ctx: ReportContext): string => {
  if (summary.trainSizes.length === 0) return renderTables(summary, ctx);
  const parts = summary.trainSizes.map((n) => {
    const text = renderTables({ ...summary, cells: summary.cells.filter((c) => c.trainSize === n) }, {
      title: `${n} labelled target examples`,
      lines: [],
    }).replace(/^# /, "## ");
    return text;
  });
  return `# ${ctx.title}\n\n${ctx.lines.join("\n")}\n\n${parts.join("\n")}`;
};

/** The tables of one summary (one size). */
const renderTables = (s: Summary, ctx: ReportContext): string => {
  const scaling = scalingOf(s.metric);
  const out: string[] = [`# ${ctx.title}`, "", ...(ctx.lines.length > 0 ? [...ctx.lines, ""] : [])];
  out.push(
    `Target test ${s.metric}${scaling.percent ? " (%)" : ""}, mean ± standard error over seeds; ` +
      "learning rate and epoch chosen on target validation; **bold** = best selection for the shift.",
    "",
  );
  out.push(`| selection | ${s.shifts.join(" | ")} |`);
  out.push(`|---|${s.shifts.map(() => "---:").join("|")}|`);
  for (const sel of s.selections) {
    const cells = s.shifts.map((sh) => {
      const c = cellOf(s, sh, sel);
      const text = cellText(c, s.metric, scaling);
      return c?.best ? `**${text}**` : text;
    });
    out.push(`| ${sel} | ${cells.join(" | ")} |`);
  }
  const note = failedNote(s.cells);
  if (note) out.push("", note);
  out.push(...renderWinners(s));
  out.push("", "Chosen on validation (learning rate / epoch, per seed) and trained parameters:", "");
  out.push(`| selection | ${s.shifts.join(" | ")} | trained params |`);
  out.push(`|---|${s.shifts.map(() => "---").join("|")}|---:|`);
  for (const sel of s.selections) {
    const cells = s.shifts.map((sh) => {
      const c = cellOf(s, sh, sel);
      return c ? formatChosen(c) : "";
    });
    const params = s.cells.find((c) => c.selection === sel)?.trainedParams ?? 0;
    out.push(`| ${sel} | ${cells.join(" | ")} | ${params.toLocaleString("en-US")} |`);
  }
  out.push(...renderActivity(s));
  return out.join("\n") + "\n";
};

/**
 * Per shift: the best selection, the runner-up, the lead and the standard error of the difference
 * (is the winner clear, or within seed noise?).
 */
export const renderWinners = (s: Summary): string[] => {
  const ws = winners(s);
  if (ws.length === 0) return [];
  const scaling = scalingOf(s.metric);
  return [
    "",
    "Winner per shift (lead over the runner-up; clear when it exceeds the standard error of the difference):",
    "",
    ...ws.map((w) => `- ${w.shift}: ${formatWinner(w, scaling)}`),
  ];
};

const isFractional = (x: number) => x > 1e-9 && Math.abs(x - 1) > 1e-9;

/**
 * For selections that train groups partially (adaptive selectors, schedules, per-group
 * multipliers): per shift, each group's mean learning-rate multiplier and the fraction
 * of epochs it was trained. Answers "which groups did auto-rgn favour on this shift?".
 */
export const renderActivity = (s: Summary): string[] => {
  const out: string[] = [];
  for (const shift of s.shifts) {
    const cells = s.cells.filter((c) =>
      c.shift === shift &&
      Object.values(c.groupActivity).some((a) => isFractional(a.meanMultiplier) || isFractional(a.activeFraction))
    );
    if (cells.length === 0) continue;
    const groups = [...new Set(cells.flatMap((c) => Object.keys(c.groupActivity)))];
    out.push("", `Layer groups trained on ${shift} (mean learning-rate multiplier / fraction of epochs trained):`, "");
    out.push(`| selection | ${groups.join(" | ")} |`, `|---|${groups.map(() => "---").join("|")}|`);
    for (const c of cells) {
      const row = groups.map((g) => {
        const a = c.groupActivity[g];
        return a ? `${a.meanMultiplier.toFixed(2)} / ${a.activeFraction.toFixed(2)}` : "";
      });
      out.push(`| ${c.selection} | ${row.join(" | ")} |`);
    }
  }
  return out;
};

const csvField = (v: string | number | undefined | null): string => {
  if (v === undefined || v === null) return "";
  const t = String(v);
  return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
};

/** The CSV report: one row per shift × selection × metric. */
export const renderCsv = (s: Summary): string => {
  const rows = [[
    "shift",
    "selection",
    "metric",
    "mean",
    "se",
    "n",
    "chosen_lr",
    "chosen_epoch",
    "trained_params",
    "best",
    ...(s.trainSizes.length > 0 ? ["train_size"] : []),
  ]];
  for (const c of s.cells) {
    for (const [m, v] of Object.entries(c.metrics)) {
      rows.push([
        c.shift,
        c.selection,
        m,
        String(v.mean),
        v.se === undefined ? "" : String(v.se),
        String(v.n),
        c.chosenLr.map((lr) => (lr === null ? "none" : String(lr))).join(" "),
        c.chosenEpoch.join(" "),
        String(c.trainedParams),
        String(c.best),
        ...(s.trainSizes.length > 0 ? [String(c.trainSize)] : []),
      ]);
    }
  }
  return rows.map((r) => r.map(csvField).join(",")).join("\n") + "\n";
};

/** The JSON report. */
export const renderJson = (s: Summary, ctx: ReportContext): string =>
  JSON.stringify({ title: ctx.title, context: ctx.lines, ...s, winners: winners(s) }, null, 2) + "\n";
