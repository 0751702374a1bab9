/**
 * The one error boundary for plugin code. Every function a plugin hands the engine
 * (a shift's `apply`, a model's `build` and the forward pass of what it built, a
 * selector's `check` and `multipliers`, an evaluator's `evaluate`) is wrapped so that
 * what it throws becomes a `PluginCodeFailure` naming the plugin, its file and the
 * call. The boundary (`catchPluginFailures`) turns exactly those into a PluginError;
 * anything else thrown inside the engine stays a defect, an internal error with its
 * stack.
 * @module
 */
import { Effect, Option } from "effect";
import type { Model } from "../model.ts";
import type { EvaluatorImpl, ImplOf, ModelImpl, PluginKind, SelectorImpl, ShiftImpl } from "../plugin.ts";
import { PluginError } from "../errors.ts";
import { describePlugin, type Resolved } from "../registry.ts";

/** What a plugin's code threw, labelled with the plugin and the call. */
export class PluginCodeFailure extends Error {
  readonly _tag = "PluginCodeFailure";
  constructor(
    /** `shift plugin "x" (from /path/x.ts)`. */
    readonly plugin: string,
    readonly kind: string,
    readonly pluginName: string,
    /** Where the plugin is referenced (`file: shifts[1]`). */
    readonly where: string,
    /** The call that threw: `apply`, `evaluate`, … */
    readonly call: string,
    readonly error: unknown,
  ) {
    super(`${plugin} failed in ${call}: ${errorText(error)}`);
  }

  /** The user-facing error. */
  toPluginError(): PluginError {
    return new PluginError({
      kind: this.kind,
      name: this.pluginName,
      where: this.where,
      detail: `failed in ${this.call}: ${errorText(this.error)}${
        this.plugin.includes("(from ") ? ` [${this.plugin}]` : ""
      }`,
      known: [],
    });
  }
}

/** The first line of what was thrown. */
export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0];

/** Wrap `fn` (plugin code) so that what it throws becomes a PluginCodeFailure. */
const guard = <A extends ReadonlyArray<unknown>, B>(
  r: Resolved,
  file: string,
  call: string,
  fn: (...args: A) => B,
): (...args: A) => B =>
(...args) => {
  try {
    return fn(...args);
  } catch (e) {
    if (e instanceof PluginCodeFailure) throw e;
    throw new PluginCodeFailure(describePlugin(r.plugin), r.kind, r.plugin.name, `${file}: ${r.path}`, call, e);
  }
};

/** A model whose forward pass (and stages) report failures as the model plugin's. */
const guardModel = (r: Resolved, file: string, model: Model): Model => ({
  ...model,
  forward: guard(r, file, "forward", model.forward.bind(model)),
  ...(model.stages
    ? { stages: model.stages.map((s) => ({ group: s.group, apply: guard(r, file, "forward", s.apply.bind(s)) })) }
    : {}),
});

/** The implementation a plugin made, with every function it exposes guarded. */
export const guardImpl = <K extends PluginKind>(r: Resolved<K>, file: string, impl: ImplOf[K]): ImplOf[K] => {
  switch (r.kind) {
    case "shift": {
      const s = impl as ShiftImpl;
      return { ...s, apply: guard(r, file, "apply", s.apply) } as ImplOf[K];
    }
    case "selector": {
      const s = impl as SelectorImpl;
      return {
        ...s,
        multipliers: guard(r, file, "multipliers", s.multipliers),
        ...(s.check ? { check: guard(r, file, "check", s.check) } : {}),
      } as ImplOf[K];
    }
    case "evaluator": {
      const e = impl as EvaluatorImpl;
      return { ...e, evaluate: guard(r, file, "evaluate", e.evaluate) } as ImplOf[K];
    }
    case "model": {
      const m = impl as ModelImpl;
      const build = guard(r, file, "build", m.build);
      return { ...m, build: (spec, rng) => guardModel(r, file, build(spec, rng)) } as ImplOf[K];
    }
    case "dataset":
      return impl;
  }
  return impl;
};

/** Turn PluginCodeFailure defects of `effect` into PluginErrors; other defects stay defects. */
export const catchPluginFailures = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | PluginError, R> =>
  effect.pipe(
    Effect.catchSomeDefect((d) =>
      d instanceof PluginCodeFailure ? Option.some(Effect.fail(d.toPluginError())) : Option.none()
    ),
  );
