/**
 * Parallel runs: trials spread over worker processes, each with its own tensor
 * backend (the wasm backend is single-threaded, so this is how both cores work).
 * The parent pre-trains every needed source model first (so each is trained once),
 * then starts the workers; each runs every N-th unfinished trial and reports result
 * lines on stdout, which the parent appends to results.jsonl. A trial's numbers do
 * not depend on which worker runs it, so results are identical whatever N is.
 * @module
 */
import { Effect } from "effect";
import { appendLine } from "../store.ts";
import { RunDirectoryError } from "../errors.ts";
import type { ResultLine } from "../results.ts";

/** Prefix of a result line on a worker's stdout. */
export const RESULT_PREFIX = "@@scalpel-result ";

/** How to start worker `index` of `count`. */
export type WorkerCommand = (index: number, count: number) => { readonly command: string; readonly args: string[] };

/** The lines of a byte stream (the last one even without a newline). */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
    }
  }
  if (buffer !== "") yield buffer;
}

/**
 * Start `count` workers, append their result lines to `resultsFile` as they arrive,
 * forward their progress lines to `log` (prefixed `[wK]`). Fails naming the worker
 * when one exits non-zero (after all have stopped; recorded results are kept).
 */
export const runWorkers = (
  count: number,
  worker: WorkerCommand,
  resultsFile: string,
  log: (line: string) => Effect.Effect<void>,
): Effect.Effect<number, RunDirectoryError> =>
  Effect.tryPromise({
    try: async () => {
      let received = 0;
      const failures: string[] = [];
      await Promise.all(Array.from({ length: count }, async (_, index) => {
        const { command, args } = worker(index, count);
        const child = new Deno.Command(command, { args, stdout: "piped", stderr: "piped", stdin: "null" }).spawn();
        let lastError = "";
        const out = (async () => {
          for await (const line of lines(child.stdout)) {
            if (!line.startsWith(RESULT_PREFIX)) continue;
            const result = JSON.parse(line.slice(RESULT_PREFIX.length)) as ResultLine;
            await Effect.runPromise(appendLine(resultsFile, result));
            received++;
          }
        })();
        const err = (async () => {
          for await (const line of lines(child.stderr)) {
            if (line.startsWith("error: ") || lastError !== "") lastError += (lastError ? "\n" : "") + line;
            await Effect.runPromise(log(`[w${index + 1}] ${line}`));
          }
        })();
        const status = await child.status;
        await Promise.all([out, err]);
        if (!status.success) {
          failures.push(`worker ${index + 1} exited with ${status.code}: ${lastError || "(no message)"}`);
        }
      }));
      if (failures.length > 0) throw new Error(failures.join("\n"));
      return received;
    },
    catch: (e) =>
      new RunDirectoryError({
        dir: resultsFile,
        detail: `a parallel run failed:\n${e instanceof Error ? e.message : String(e)}`,
        fix: "Results already recorded are kept; fix the cause and run the same command again to resume.",
      }),
  });

/** Below this many trials `--concurrency auto` runs in one process (workers' start-up would not pay off). */
export const AUTO_PARALLEL_MIN_TRIALS = 12;

/** CPU cores a run spreads its work over: one per core, at most 4 (`auto` of --concurrency and --threads). */
export const usableCores = (): number => Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));

/**
 * `--concurrency auto`: {@link usableCores} workers for runs of at least
 * {@link AUTO_PARALLEL_MIN_TRIALS} trials when subprocesses are allowed; otherwise 1.
 */
export const autoConcurrency = (trials: number): number => {
  if (trials < AUTO_PARALLEL_MIN_TRIALS) return 1;
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") return 1;
  return usableCores();
};
