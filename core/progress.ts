/**
 * Progress output. Not on a terminal (CI, logs): one plain line per event. On a
 * terminal: the same lines, plus a status line kept at the bottom and redrawn after
 * every fine-tuning epoch — trials done / total, ETA, the current trial, its epoch
 * and loss. `quiet` prints nothing.
 * @module
 */
import { Effect } from "effect";

/** Where a run stands, after one fine-tuning epoch. */
export interface EpochProgress {
  /** `shift × selection seed s lr x`. */
  readonly trial: string;
  /** Trials finished so far and in all (of this run). */
  readonly done: number;
  readonly total: number;
  readonly epoch: number;
  readonly epochs: number;
  readonly loss: number;
  /** Estimated seconds left, when known. */
  readonly eta?: number;
}

/** `1h02m`, `3m20s`, `45s`. */
export const formatDuration = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
};

/** Where progress goes. */
export interface Progress {
  /** One event line. */
  readonly log: (line: string) => Effect.Effect<void>;
  /** After each fine-tuning epoch (status line on a terminal; nothing otherwise). */
  readonly epoch: (info: EpochProgress) => Effect.Effect<void>;
  /** Clear the status line (at the end of a run). */
  readonly done: Effect.Effect<void>;
}

/** The status line for `info`, cut to `width` characters. */
export const statusLine = (info: EpochProgress, width: number): string => {
  const pct = info.total > 0 ? Math.floor((100 * info.done) / info.total) : 0;
  const eta = info.eta === undefined ? "" : ` ETA ${formatDuration(info.eta)}`;
  const text = `[${info.done}/${info.total} ${pct}%${eta}] ${info.trial}: epoch ${info.epoch}/${info.epochs} loss ${
    info.loss.toFixed(4)
  }`;
  return text.length > width ? text.slice(0, Math.max(0, width - 1)) + "…" : text;
};

const encoder = new TextEncoder();
const write = (text: string) => Effect.sync(() => Deno.stderr.writeSync(encoder.encode(text)));

/** A progress reporter writing to stderr. */
export const makeProgress = (options: { readonly quiet: boolean; readonly terminal: boolean }): Progress => {
  if (options.quiet) return { log: () => Effect.void, epoch: () => Effect.void, done: Effect.void };
  if (!options.terminal) {
    return { log: (line) => write(`${line}\n`), epoch: () => Effect.void, done: Effect.void };
  }
  let status = "";
  const width = () => {
    try {
      return Deno.consoleSize().columns;
    } catch {
      return 100;
    }
  };
  const clear = "\r\x1b[2K";
  return {
    log: (line) => write(`${clear}${line}\n${status}`),
    epoch: (info) =>
      Effect.suspend(() => {
        status = statusLine(info, width());
        return write(`${clear}${status}`);
      }),
    done: Effect.suspend(() => {
      status = "";
      return write(clear);
    }),
  };
};
