/**
 * Making the plugin implementations of a resolved pipeline. Plugin code is untrusted:
 * `make` runs under a time limit, what it throws names the plugin and its file, and
 * every function of what it makes is guarded (core/pipeline/guard.ts).
 * @module
 */
import { Duration, Effect } from "effect";
import type { FileSystem, Path } from "@effect/platform";
import type { DatasetImpl, EvaluatorImpl, ImplOf, ModelImpl, PluginKind, SelectorImpl, ShiftImpl } from "../plugin.ts";
import { PluginError, type UserError } from "../errors.ts";
import { describePlugin, PLUGIN_TIMEOUT_ENV, pluginTimeout, type Resolved } from "../registry.ts";
import type { ResolvedPipeline } from "./load.ts";
import { errorText, guardImpl } from "./guard.ts";

/** Everything a run needs from the plugins, made before any work starts. */
export interface Made {
  readonly dataset: DatasetImpl;
  readonly model: ModelImpl;
  readonly shifts: ReadonlyArray<ShiftImpl>;
  readonly selectors: ReadonlyArray<SelectorImpl>;
  readonly evaluators: ReadonlyArray<EvaluatorImpl>;
}

const failure = (r: Resolved, file: string, detail: string) =>
  new PluginError({
    kind: r.kind,
    name: r.plugin.name,
    where: `${file}: ${r.path}`,
    detail: `${detail} [${describePlugin(r.plugin)}]`,
    known: [],
  });

/** Make one implementation, guarded; a plugin that throws or hangs becomes a PluginError naming it. */
const make = <K extends PluginKind>(r: Resolved<K>, file: string) => {
  const limit = pluginTimeout();
  return Effect.suspend(() => r.plugin.make(r.options)).pipe(
    Effect.catchAllDefect((e) => Effect.fail(failure(r, file, `failed to start: ${errorText(e)}`))),
    Effect.timeoutFail({
      duration: limit,
      onTimeout: () =>
        failure(
          r,
          file,
          `did not finish starting (make) within ${
            Duration.format(limit)
          }; raise the limit with ${PLUGIN_TIMEOUT_ENV}=<seconds> if it is only slow`,
        ),
    }),
    Effect.map((impl) => guardImpl(r, file, impl as ImplOf[K])),
  ) as Effect.Effect<ImplOf[K], UserError, FileSystem.FileSystem | Path.Path>;
};

/** Make every plugin implementation of `p` (its references were decoded by loadPipeline). */
export const makePlugins = (p: ResolvedPipeline): Effect.Effect<Made, UserError, FileSystem.FileSystem | Path.Path> =>
  Effect.all({
    dataset: make(p.dataset, p.file),
    model: make(p.model, p.file),
    shifts: Effect.forEach(p.shifts, (r) => make(r, p.file)),
    selectors: Effect.forEach(p.selections, (r) => make(r, p.file)),
    evaluators: Effect.forEach(p.evaluators, (r) => make(r, p.file)),
  });
