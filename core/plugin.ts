/**
 * The plugin contract. Every plugin is a value: `kind`, `name`, a one-line
 * `description`, an `options` Schema (with defaults) and `make(options)`, which
 * returns an Effect of the implementation for its kind. Core knows only these
 * interfaces; everything concrete lives in plugins/.
 * @module
 */
import { type Effect, Schema } from "effect";
import type { FileSystem, Path } from "@effect/platform";
import type { Dataset } from "./dataset.ts";
import type { Model } from "./model.ts";
import type { TensorGradientStats } from "./gradstats.ts";
import type { Rng, StreamPath } from "./random.ts";
import type { UserError } from "./errors.ts";

/** The kinds of plugin. */
export type PluginKind = "dataset" | "shift" | "selector" | "evaluator" | "model";

/** All plugin kinds, in the order help texts list them. */
export const pluginKinds: ReadonlyArray<PluginKind> = ["dataset", "model", "shift", "selector", "evaluator"];

/** Services a plugin's `make` and implementation may use. */
export type PluginServices = FileSystem.FileSystem | Path.Path;

/** What a dataset plugin makes. */
export interface DatasetImpl {
  /** Load the dataset (train and test splits). */
  readonly load: Effect.Effect<Dataset, UserError, PluginServices>;
}

/** Source and target domains produced by a shift. */
export interface Domains {
  /** Trains the pre-trained model. */
  readonly source: Dataset;
  /** What fine-tuning adapts to; its train split supplies the labelled target examples. */
  readonly target: Dataset;
}

/** What a shift plugin makes. */
export interface ShiftImpl {
  /** Short human label for tables, e.g. `gaussian_noise-5`. */
  readonly label: string;
  /**
   * Identifies the source domain, so that shifts sharing a source (all corruptions
   * leave it clean) share one cached pre-trained model. `"clean"` when unchanged.
   */
  readonly sourceKey: string;
  /** Build source and target from the base dataset; draw randomness only from `rng`. */
  readonly apply: (base: Dataset, rng: (path: StreamPath) => Rng) => Domains;
}

/** What a selector sees when deciding multipliers. */
export interface SelectionContext {
  readonly model: Model;
  /** 0-based epoch about to start. */
  readonly epoch: number;
  readonly epochs: number;
  /** Mean training loss of each finished epoch (empty before the first). */
  readonly trainLosses: ReadonlyArray<number>;
  /**
   * Gradient statistics of every trainable tensor on the fine-tuning data at the
   * current weights (see core/gradstats.ts): ‖g‖, ‖θ‖, and with `perExample` the
   * per-example gradient SNR. Computed on demand, with batch-norm frozen.
   */
  readonly gradientStats: (request: {
    readonly batches: number;
    readonly perExample?: number;
  }) => ReadonlyMap<string, TensorGradientStats>;
}

/** What a selector plugin makes. */
export interface SelectorImpl {
  /** Short human label, e.g. `block1`. */
  readonly label: string;
  /**
   * Learning-rate multiplier for every trainable variable (by logical name) for
   * the coming epoch. Missing names and 0 mean frozen: never updated, never given
   * a gradient.
   */
  readonly multipliers: (ctx: SelectionContext) => ReadonlyMap<string, number>;
  /**
   * Optional check against the model before any work starts (`scalpel validate`, and
   * `run` before it creates the run directory): what makes this selection impossible on
   * `model` (a layer group it lacks, a pattern that matches nothing), or undefined.
   */
  readonly check?: (model: Model) => string | undefined;
  /**
   * Optional L2-SP penalty: α‖θ − θ₀‖² over the trained variables, θ₀ the
   * pre-trained weights, added to the loss.
   */
  readonly penalty?: { readonly alpha: number };
}

/** What an evaluator receives: predictions on a split. */
export interface EvaluationInput {
  /** Row-major logits, `count × numClasses`. */
  readonly logits: Float32Array;
  readonly labels: Int32Array;
  readonly groups?: Int32Array;
  readonly count: number;
  readonly numClasses: number;
}

/** What an evaluator plugin makes. */
export interface EvaluatorImpl {
  /** Named numbers, e.g. `{ accuracy: 0.93 }`. The first one ranks trials on validation. */
  readonly evaluate: (input: EvaluationInput) => Readonly<Record<string, number>>;
}

/** What a model plugin makes. */
export interface ModelImpl {
  /** Build a freshly initialised network; all initial weights come from `rng`. */
  readonly build: (
    spec: { readonly inputShape: readonly [number, number, number]; readonly numClasses: number },
    rng: Rng,
  ) => Model;
  /**
   * True when `build` returns weights that are already pre-trained (loaded from a
   * file): the engine then skips pre-training and starts every trial from them.
   */
  readonly pretrained?: true;
}

/** Maps a plugin kind to what its `make` returns. */
export interface ImplOf {
  dataset: DatasetImpl;
  shift: ShiftImpl;
  selector: SelectorImpl;
  evaluator: EvaluatorImpl;
  model: ModelImpl;
}

/** A plugin value. `O` is the decoded options type. */
export interface Plugin<K extends PluginKind = PluginKind, O = unknown> {
  readonly kind: K;
  readonly name: string;
  readonly description: string;
  // deno-lint-ignore no-explicit-any
  readonly options: Schema.Schema<O, any, never>;
  readonly make: (options: O) => Effect.Effect<ImplOf[K], UserError, PluginServices>;
  /**
   * Optional grid expansion: split one decoded options value into several (e.g. a
   * list of corruption names × a list of severities). Each becomes its own entry,
   * as if the pipeline file had listed them one by one.
   */
  readonly grid?: (options: O) => ReadonlyArray<O>;
}

/** Any plugin, whatever its options type. */
// deno-lint-ignore no-explicit-any
export type AnyPlugin = Plugin<PluginKind, any>;

const definer = <K extends PluginKind>(kind: K) => <O>(spec: Omit<Plugin<K, O>, "kind">): Plugin<K, O> => ({
  kind,
  ...spec,
});

/** Define a dataset plugin. */
export const defineDataset = definer("dataset");
/** Define a shift plugin: `(base, rng) → { source, target }`. */
export const defineShift = definer("shift");
/** Define a selector plugin: a learning-rate multiplier per trainable variable per epoch. */
export const defineSelector = definer("selector");
/** Define an evaluator plugin: `(outputs, labels, groups) → named numbers`. */
export const defineEvaluator = definer("evaluator");
/** Define a model plugin: builds an architecture with named layer groups from a seed. */
export const defineModel = definer("model");

/** What keeps `value` from being a plugin, or undefined when it is one (checks custom plugin modules). */
export const pluginProblem = (value: unknown): string | undefined => {
  if (typeof value !== "object" || value === null) return "it is not an object";
  const v = value as Record<string, unknown>;
  if (typeof v.kind !== "string" || !(pluginKinds as ReadonlyArray<string>).includes(v.kind)) {
    return `its kind is ${JSON.stringify(v.kind)}, not one of ${pluginKinds.join(", ")}`;
  }
  if (typeof v.name !== "string" || v.name === "") return "it has no name";
  if (typeof v.description !== "string") return "it has no description";
  if (typeof v.make !== "function") return "it has no make(options) function";
  if (!Schema.isSchema(v.options)) return "its `options` is not an effect Schema (use Schema.Struct({...}))";
  return undefined;
};

/** True when `value` is a plugin. */
export const isPlugin = (value: unknown): value is AnyPlugin => pluginProblem(value) === undefined;
