/**
 * Named kill points, for crash tests only. With `SCALPEL_TEST_KILL_AT=<point>` (or
 * `<point>:<n>`, the n-th time the point is reached in this process) in the
 * environment, the process kills itself with SIGKILL at that point — the same as a
 * power cut or `kill -9` there. The tests use it to check that a run resumed after a
 * crash at any of these points ends with the same result lines as an uninterrupted
 * one. Unset (always, outside those tests), a kill point does nothing.
 * @module
 */

/** The places a test may crash a run at. */
export type KillPoint =
  /** After a pre-training epoch, before the model is cached. */
  | "pretrain-epoch"
  /** Between writing a cached model's weights and its metadata. */
  | "cache-write"
  /** After a fine-tuning epoch of a trial. */
  | "trial-epoch"
  /** Between the two halves of a result line appended to results.jsonl. */
  | "line-write"
  /** Between two of the summary files. */
  | "summary";

/** The environment variable that arms a kill point. */
export const KILL_ENV = "SCALPEL_TEST_KILL_AT";

const armed: { point: string; at: number } | undefined = (() => {
  let spec: string | undefined;
  try {
    spec = Deno.env.get(KILL_ENV);
  } catch {
    return undefined; // no --allow-env: nothing armed
  }
  if (!spec) return undefined;
  const [point, n] = spec.split(":");
  return { point, at: n === undefined ? 1 : Math.max(1, Number(n) || 1) };
})();

const reached = new Map<string, number>();

/** Kill this process with SIGKILL if `point` is the armed one (and this is its n-th visit). */
export const killPoint = (point: KillPoint): void => {
  if (!armed || armed.point !== point) return;
  const n = (reached.get(point) ?? 0) + 1;
  reached.set(point, n);
  if (n === armed.at) Deno.kill(Deno.pid, "SIGKILL");
};
