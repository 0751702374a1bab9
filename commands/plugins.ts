/**
 * `scalpel plugins`: every registered plugin by kind, with its one-line description
 * and its options (type, default, description), read from each plugin's options
 * Schema.
 * @module
 */
import { Command } from "@effect/cli";
import { Console, Effect } from "effect";
import { Registry } from "../core/registry.ts";
import { pluginKinds } from "../core/plugin.ts";
import { type OptionRow, optionRows } from "../core/plugin_options.ts";

/** One option as a help line: `name (type, default x): description`. */
export const optionLine = (o: OptionRow): string => {
  const facts = [
    o.type,
    o.required ? "required" : o.default === undefined ? "optional" : `default ${JSON.stringify(o.default)}`,
  ];
  return `${o.name} (${facts.join(", ")})${o.description ? `: ${o.description}` : ""}`;
};

/** `scalpel plugins`. */
export const plugins = Command.make("plugins", {}, () =>
  Effect.gen(function* () {
    const registry = yield* Registry;
    for (const kind of pluginKinds) {
      yield* Console.log(`${kind}s:`);
      for (const p of registry.list(kind)) {
        yield* Console.log(`  ${p.name.padEnd(18)} ${p.description}`);
        for (const o of optionRows(p.options)) yield* Console.log(`${" ".repeat(23)}${optionLine(o)}`);
      }
    }
  })).pipe(Command.withDescription("list the registered plugins with their options (type, default, description)"));
