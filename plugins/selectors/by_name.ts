/**
 * `by-name`: tune any set of layer groups or variables, chosen by name, glob or
 * regular expression, with optional per-pattern learning-rate multipliers (a list
 * of multipliers for a pattern makes a grid: one selection per combination).
 * @module
 */
import { Effect, Schema } from "effect";
import { defineSelector } from "../../core/plugin.ts";
import type { Model, NamedVariable } from "../../core/model.ts";

/**
 * Does `pattern` select variable `v`? A pattern is a group name (`block1`), a
 * variable name (`block1/conv/kernel`), a glob over variable or group names
 * (`block2/*`, `*bn*`), or a regular expression between slashes (`/^stage\d/`).
 */
export const matches = (pattern: string, v: NamedVariable): boolean => {
  if (pattern === v.group || pattern === v.name) return true;
  if (pattern.length > 2 && pattern.startsWith("/") && pattern.endsWith("/")) {
    return new RegExp(pattern.slice(1, -1)).test(v.name);
  }
  if (/[*?]/.test(pattern)) {
    const re = new RegExp(
      `^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`,
    );
    return re.test(v.name) || re.test(v.group);
  }
  return false;
};

/** Why `include` or the multipliers' patterns cannot select on `model` (a pattern matching nothing), or undefined. */
export const patternProblem = (
  model: Model,
  include: ReadonlyArray<string>,
  multipliers: Readonly<Record<string, unknown>> = {},
): string | undefined => {
  const unmatched = [...include, ...Object.keys(multipliers)].filter((pat) =>
    !model.params.some((v) => matches(pat, v))
  );
  return unmatched.length === 0 ? undefined : `pattern(s) ${unmatched.map((u) => `"${u}"`).join(", ")} match no ` +
    `variable of ${model.architecture} (groups: ${model.groups.join(", ")}; variables like ${
      model.params[0]?.name ?? "?"
    })`;
};

/** Multipliers for `model` from include patterns and per-pattern multipliers (first match wins; default 1). */
export const byName = (
  model: Model,
  include: ReadonlyArray<string>,
  multipliers: Readonly<Record<string, number>>,
): ReadonlyMap<string, number> => {
  const problem = patternProblem(model, include);
  if (problem !== undefined) throw new Error(problem);
  const out = new Map<string, number>();
  for (const v of model.params) {
    if (!include.some((pat) => matches(pat, v))) continue;
    const key = Object.keys(multipliers).find((pat) => matches(pat, v));
    out.set(v.name, key === undefined ? 1 : multipliers[key]);
  }
  return out;
};

const Multiplier = Schema.Number.pipe(Schema.nonNegative(), Schema.finite());

/** The by-name selector plugin. */
export default defineSelector({
  name: "by-name",
  description: "tune the groups / variables named by patterns (name, glob, /regex/), with per-pattern lr multipliers",
  options: Schema.Struct({
    include: Schema.Union(Schema.String, Schema.NonEmptyArray(Schema.String)).annotations({
      description: "Pattern(s) selecting what is tuned: a group or variable name, a glob, or a /regex/.",
    }),
    multipliers: Schema.optionalWith(
      Schema.Record({ key: Schema.String, value: Schema.Union(Multiplier, Schema.NonEmptyArray(Multiplier)) })
        .annotations({
          description: "Learning-rate multiplier per pattern (the first matching pattern wins, 1 where none " +
            "matches); a list of values makes a grid.",
        }),
      { default: () => ({}) },
    ),
    label: Schema.optional(Schema.String.annotations({
      description: "Row label in the report; when absent, made from the patterns and multipliers.",
    })),
  }),
  grid: (o) => {
    let points: Array<Record<string, number>> = [{}];
    for (const [pat, m] of Object.entries(o.multipliers)) {
      const values = typeof m === "number" ? [m] : m;
      points = points.flatMap((p) => values.map((v) => ({ ...p, [pat]: v })));
    }
    return points.map((multipliers) => ({ ...o, multipliers }));
  },
  make: (o) =>
    Effect.sync(() => {
      const include = typeof o.include === "string" ? [o.include] : o.include;
      const multipliers = Object.fromEntries(
        Object.entries(o.multipliers).map(([k, v]) => [k, typeof v === "number" ? v : v[0]]),
      );
      const suffix = Object.entries(multipliers).map(([k, v]) => `${k}×${v}`).join(",");
      return {
        label: o.label ?? `${include.join("+")}${suffix ? `[${suffix}]` : ""}`,
        check: (model) => patternProblem(model, include, multipliers),
        multipliers: ({ model }) => byName(model, include, multipliers),
      };
    }),
});
