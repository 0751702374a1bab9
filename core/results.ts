/**
 * The result line: what one finished trial writes to results.jsonl.
 * @module
 */

/** Metrics by evaluator output name, e.g. `{ accuracy: 0.93 }`. */
export type Metrics = Readonly<Record<string, number>>;

/** One finished trial. */
export interface ResultLine {
  /** Stable key derived from the trial's resolved settings. */
  readonly key: string;
  /** Shift label (e.g. `gaussian_noise-5`) and its resolved reference. */
  readonly shift: string;
  readonly shiftRef: Readonly<Record<string, unknown>>;
  /** Selection label (e.g. `block1`) and its resolved reference. */
  readonly selection: string;
  readonly selectionRef: Readonly<Record<string, unknown>>;
  /** Fine-tuning seed index (0-based). */
  readonly seed: number;
  /** Learning rate of this trial; null when the selection trained nothing. */
  readonly lr: number | null;
  /** Epoch chosen on validation (0 = before any fine-tuning). */
  readonly epoch: number;
  /** Metrics at the chosen epoch on target validation and target test. */
  readonly val: Metrics;
  readonly test: Metrics;
  /** Validation value of the ranking metric after each epoch (index 0 = before training). */
  readonly valCurve: ReadonlyArray<number>;
  /** Scalar parameters that received at least one update. */
  readonly trainedParams: number;
  /** Per layer group: fraction of its parameters trained. */
  readonly trainedGroups: Readonly<Record<string, number>>;
  /**
   * Per layer group, what the selector did over the epochs: the mean learning-rate
   * multiplier (parameter-weighted) and the fraction of epochs the group was trained.
   */
  readonly groupActivity: Readonly<
    Record<string, { readonly meanMultiplier: number; readonly activeFraction: number }>
  >;
  /** Wall time of the trial (informational; never used to compute anything). */
  readonly seconds: number;
  /** Cache key of the pre-trained model the trial started from. */
  readonly pretrained: string;
}
