/**
 * `subpopulation`: a BREEDS-style subpopulation shift (Santurkar et al., 2021).
 * The classes are grouped into super-classes; the task is to predict the
 * super-class (`classNames` = super-class names, labels remapped, `groups` = the
 * original class). The source domain shows some sub-classes of every super-class,
 * the target domain the others, so the two share no original class.
 *
 * Which sub-classes go where (`split`): each super-class's sub-classes are taken in
 * the order listed (`first-half`) or in a random order drawn from the rng stream
 * `split` (`random`); the first ⌈n/2⌉ go to the source, the remaining ⌊n/2⌋ to the
 * target. Classes that belong to no super-class are dropped from both domains.
 *
 * Built-in hierarchies (`hierarchy`; `auto`, the default, picks `fashion-mnist` for
 * a dataset whose name contains "fashion" and `mnist-pairs` for one whose name
 * starts with "mnist"), sub-classes listed in `first-half` order:
 * - `mnist-pairs` (5-way): pairs of often-confused digits {0,6} {1,7} {2,5} {3,8}
 *   {4,9}; source digits 0–4, target digits 5–9.
 * - `mnist-magnitude` (2-way): small {0,1,2,3,4} / large {5,6,7,8,9}; source
 *   {0,1,2,5,6,7}, target {3,4,8,9}.
 * - `mnist-parity` (2-way): even {0,2,4,6,8} / odd {1,3,5,7,9}; source
 *   {0,1,2,3,4,5}, target {6,7,8,9}.
 * - `fashion-mnist` (3-way, every Fashion-MNIST class used, each super-class with
 *   ≥ 2 sub-classes — Bag alone cannot form one, so it joins the footwear as an
 *   accessory): tops {T-shirt/top, Pullover, Coat, Shirt}, trousers & dresses
 *   {Trouser, Dress}, accessories {Sandal, Sneaker, Bag, Ankle boot}; source
 *   {T-shirt/top, Pullover, Trouser, Sandal, Sneaker}, target {Coat, Shirt, Dress,
 *   Bag, Ankle boot}.
 *
 * A user grouping `groups: { name: [classIndex, …], … }` replaces the hierarchy. It
 * must have ≥ 2 super-classes, each with ≥ 2 distinct sub-classes, no class in two
 * super-classes, and only class indices of the dataset (checked when the shift is
 * applied, since the number of classes comes from the dataset).
 * @module
 */
import { Effect, Schema } from "effect";
import { defineShift } from "../../core/plugin.ts";
import { type Dataset, type Split, take } from "../../core/dataset.ts";
import type { Rng } from "../../core/random.ts";

/** A super-class: its name and its sub-classes (original class indices) in split order. */
export interface SuperClass {
  readonly name: string;
  readonly classes: ReadonlyArray<number>;
}

/** A hierarchy: super-classes over a dataset with `numClasses` classes. */
export interface Hierarchy {
  readonly numClasses: number;
  readonly superClasses: ReadonlyArray<SuperClass>;
}

/** The built-in hierarchies (see the module doc for the choice). */
export const HIERARCHIES = {
  "mnist-pairs": {
    numClasses: 10,
    superClasses: [
      { name: "0/6", classes: [0, 6] },
      { name: "1/7", classes: [1, 7] },
      { name: "2/5", classes: [2, 5] },
      { name: "3/8", classes: [3, 8] },
      { name: "4/9", classes: [4, 9] },
    ],
  },
  "mnist-magnitude": {
    numClasses: 10,
    superClasses: [
      { name: "small (0-4)", classes: [0, 1, 2, 3, 4] },
      { name: "large (5-9)", classes: [5, 6, 7, 8, 9] },
    ],
  },
  "mnist-parity": {
    numClasses: 10,
    superClasses: [
      { name: "even", classes: [0, 2, 4, 6, 8] },
      { name: "odd", classes: [1, 3, 5, 7, 9] },
    ],
  },
  "fashion-mnist": {
    numClasses: 10,
    // 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot
    superClasses: [
      { name: "tops", classes: [0, 2, 4, 6] },
      { name: "trousers & dresses", classes: [1, 3] },
      { name: "accessories", classes: [5, 7, 8, 9] },
    ],
  },
} as const satisfies Record<string, Hierarchy>;

/** Name of a built-in hierarchy. */
export type HierarchyName = keyof typeof HIERARCHIES;

/** Super-classes from a user grouping `{ name: [classIndex, …] }`, in key order. */
export const fromGroups = (groups: Readonly<Record<string, ReadonlyArray<number>>>): SuperClass[] =>
  Object.entries(groups).map(([name, classes]) => ({ name, classes }));

/**
 * Every problem of a grouping (empty when valid): fewer than 2 super-classes, a
 * super-class with fewer than 2 distinct sub-classes, a class listed twice, a class
 * in two super-classes, a class index outside 0..numClasses−1 (when given).
 */
export const groupingProblems = (superClasses: ReadonlyArray<SuperClass>, numClasses?: number): string[] => {
  const problems: string[] = [];
  if (superClasses.length < 2) {
    problems.push(`${superClasses.length} super-class(es) given; the task needs at least 2`);
  }
  const owner = new Map<number, string>();
  for (const { name, classes } of superClasses) {
    const distinct = [...new Set(classes)];
    if (distinct.length < 2) {
      problems.push(
        `super-class "${name}" has ${distinct.length} sub-class(es) [${distinct.join(", ")}]; it needs at least 2 ` +
          "so that some can go to the source domain and others to the target",
      );
    }
    if (distinct.length < classes.length) {
      const twice = distinct.filter((c) => classes.indexOf(c) !== classes.lastIndexOf(c));
      problems.push(`super-class "${name}" lists class ${twice.join(", ")} more than once`);
    }
    for (const c of distinct) {
      if (!Number.isInteger(c) || c < 0 || (numClasses !== undefined && c >= numClasses)) {
        problems.push(
          `class index ${c} in super-class "${name}" does not exist` +
            (numClasses !== undefined ? `: the dataset has ${numClasses} classes (0..${numClasses - 1})` : ""),
        );
        continue;
      }
      const other = owner.get(c);
      if (other !== undefined) {
        problems.push(`class ${c} is in both super-class "${other}" and "${name}"; super-classes must not overlap`);
      } else {
        owner.set(c, name);
      }
    }
  }
  return problems;
};

/** The subpopulation options. */
export const SubpopulationOptions = Schema.Struct({
  hierarchy: Schema.optionalWith(
    Schema.Literal("auto", "mnist-pairs", "mnist-magnitude", "mnist-parity", "fashion-mnist").annotations({
      description:
        "Built-in super-class hierarchy; `auto` picks `fashion-mnist` or `mnist-pairs` from the dataset name.",
    }),
    { default: () => "auto" as const },
  ),
  groups: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.Array(Schema.Int.pipe(Schema.nonNegative())) }).pipe(
      Schema.filter((g) => {
        const problems = groupingProblems(fromGroups(g));
        return problems.length === 0 ? undefined : problems.join("; ");
      }),
    ).annotations({
      description: "Your own super-classes `{ name: [classIndex, …] }`, used instead of a built-in hierarchy.",
    }),
  ),
  split: Schema.optionalWith(
    Schema.Literal("first-half", "random").annotations({
      description: "How each super-class's sub-classes are divided between source and target: `first-half` (in " +
        "the listed order) or `random` (a seeded order).",
    }),
    { default: () => "first-half" as const },
  ),
}).pipe(
  Schema.filter((o) =>
    o.groups !== undefined && o.hierarchy !== "auto"
      ? `give either \`hierarchy\` (${o.hierarchy}) or \`groups\`, not both`
      : undefined
  ),
);

/** Decoded subpopulation options. */
export type SubpopulationOptions = typeof SubpopulationOptions.Type;

/** The super-classes to use on `base`; throws a descriptive Error when they do not fit it. */
export const resolveHierarchy = (o: SubpopulationOptions, base: Dataset): ReadonlyArray<SuperClass> => {
  const k = base.classNames.length;
  let superClasses: ReadonlyArray<SuperClass>;
  if (o.groups !== undefined) {
    superClasses = fromGroups(o.groups);
  } else {
    let name: HierarchyName;
    if (o.hierarchy !== "auto") name = o.hierarchy;
    else if (base.name.toLowerCase().includes("fashion")) name = "fashion-mnist";
    else if (base.name.toLowerCase().startsWith("mnist")) name = "mnist-pairs";
    else {
      throw new Error(
        `no built-in hierarchy for dataset "${base.name}"; set \`hierarchy\` (${
          Object.keys(HIERARCHIES).join(", ")
        }) or give \`groups\``,
      );
    }
    const h: Hierarchy = HIERARCHIES[name];
    if (h.numClasses !== k) {
      throw new Error(`hierarchy ${name} is for ${h.numClasses} classes but dataset "${base.name}" has ${k}`);
    }
    superClasses = h.superClasses;
  }
  const problems = groupingProblems(superClasses, k);
  if (problems.length > 0) throw new Error(`invalid grouping: ${problems.join("; ")}`);
  return superClasses;
};

/** Source and target sub-classes per super-class (index-aligned with `superClasses`). */
export interface SubclassSplit {
  readonly source: ReadonlyArray<ReadonlyArray<number>>;
  readonly target: ReadonlyArray<ReadonlyArray<number>>;
}

/** Divide each super-class's distinct sub-classes: first ⌈n/2⌉ (listed or random order) to the source. */
export const splitSubclasses = (
  superClasses: ReadonlyArray<SuperClass>,
  mode: SubpopulationOptions["split"],
  rng: Rng,
): SubclassSplit => {
  const source: number[][] = [];
  const target: number[][] = [];
  for (const { classes } of superClasses) {
    const distinct = [...new Set(classes)];
    const ordered = mode === "random" ? Array.from(rng.permutation(distinct.length), (j) => distinct[j]) : distinct;
    const cut = Math.ceil(ordered.length / 2);
    source.push(ordered.slice(0, cut));
    target.push(ordered.slice(cut));
  }
  return { source, target };
};

/** The examples of `split` whose class is in `members[s]` for some s, labelled s, grouped by original class. */
export const remapSplit = (
  split: Split,
  shape: readonly [number, number, number],
  members: ReadonlyArray<ReadonlyArray<number>>,
  numClasses: number,
): Split => {
  const superOf = new Int32Array(numClasses).fill(-1);
  members.forEach((classes, s) => classes.forEach((c) => (superOf[c] = s)));
  const keep: number[] = [];
  for (let i = 0; i < split.count; i++) if (superOf[split.labels[i]] >= 0) keep.push(i);
  const kept = take(split, shape, keep);
  return {
    images: kept.images,
    labels: Int32Array.from(kept.labels, (y) => superOf[y]),
    groups: Int32Array.from(kept.labels),
    count: kept.count,
  };
};

/** Short label of the options for tables. */
export const subpopulationLabel = (o: SubpopulationOptions): string =>
  `subpop-${o.groups !== undefined ? "custom" : o.hierarchy}${o.split === "random" ? "-random" : ""}`;

/** The subpopulation shift plugin. */
export default defineShift({
  name: "subpopulation",
  description:
    "BREEDS-style subpopulation shift: predict super-classes; source and target show disjoint sub-classes of each",
  options: SubpopulationOptions,
  make: (o) =>
    Effect.succeed({
      label: subpopulationLabel(o),
      sourceKey: `subpopulation:${JSON.stringify(o)}`,
      apply: (base, rng) => {
        const superClasses = resolveHierarchy(o, base);
        const k = base.classNames.length;
        const { source, target } = splitSubclasses(superClasses, o.split, rng(["split"]));
        const classNames = superClasses.map((s) => s.name);
        const domain = (which: "source" | "target", members: ReadonlyArray<ReadonlyArray<number>>): Dataset => ({
          name: `${base.name}/${subpopulationLabel(o)}/${which}`,
          shape: base.shape,
          classNames,
          train: remapSplit(base.train, base.shape, members, k),
          test: remapSplit(base.test, base.shape, members, k),
        });
        return { source: domain("source", source), target: domain("target", target) };
      },
    }),
});
