/**
 * Top-1 classification from row-major logits (`count × k`): the arg-max class of a
 * row and the fraction of rows whose arg-max is the label. Ties go to the first
 * maximum; a NaN logit never wins against an earlier one, and a row that starts
 * with NaN predicts class 0 (the plain `>` scan).
 * @module
 */

/** Arg-max class of row `row` of row-major logits with `k` classes (first maximum wins). */
export const argmaxRow = (logits: ArrayLike<number>, row: number, k: number): number => {
  const base = row * k;
  let best = 0;
  for (let c = 1; c < k; c++) if (logits[base + c] > logits[base + best]) best = c;
  return best;
};

/** Arg-max class of each of the first `count` rows of row-major logits with `k` classes. */
export const predictedClasses = (logits: ArrayLike<number>, count: number, k: number): Int32Array => {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = argmaxRow(logits, i, k);
  return out;
};

/** Fraction of the first `count` rows whose arg-max class is the label; NaN when `count` is 0. */
export const argmaxAccuracy = (
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  count: number,
  k: number,
): number => {
  let correct = 0;
  for (let i = 0; i < count; i++) if (argmaxRow(logits, i, k) === labels[i]) correct++;
  return count > 0 ? correct / count : NaN;
};
