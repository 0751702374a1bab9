/**
 * `scalpel shifts`: every registered shift plugin with its description and options
 * (type, required or default), derived from the plugin's options Schema, then the
 * corruption names of the corruption library grouped by family.
 * @module
 */
import { Command } from "@effect/cli";
import { Console, Effect, JSONSchema, Option, Schema, SchemaAST } from "effect";
import { Registry } from "../core/registry.ts";
import type { AnyPlugin } from "../core/plugin.ts";
import { CORRUPTION_NAMES, CORRUPTIONS } from "../plugins/shifts/corruptions/index.ts";

/** A JSON Schema node, as far as this module reads it. */
interface JsonNode {
  readonly type?: string;
  readonly enum?: ReadonlyArray<unknown>;
  readonly const?: unknown;
  readonly $ref?: string;
  readonly anyOf?: ReadonlyArray<JsonNode>;
  readonly items?: JsonNode | ReadonlyArray<JsonNode>;
  readonly additionalProperties?: boolean | JsonNode;
  readonly properties?: Readonly<Record<string, JsonNode>>;
  readonly required?: ReadonlyArray<string>;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly $defs?: Readonly<Record<string, JsonNode>>;
}

/** One option of a plugin, for display. */
export interface OptionInfo {
  readonly name: string;
  /** E.g. `integer 1–5`, `"a" | "b"`, `list of number`. */
  readonly type: string;
  readonly required: boolean;
  /** The default value, when the schema has one. */
  readonly default: Option.Option<unknown>;
}

/** A name for a long list of string values, used in place of them in type texts. */
export interface Abbreviation {
  /** E.g. `<corruption>`. */
  readonly label: string;
  readonly values: ReadonlyArray<string>;
}

/**
 * A short type text for a JSON Schema node (`$ref`s looked up in `defs`): e.g.
 * `integer 1–5`, `"a" | "b"`, `list of (integer | string)`. An enum holding all the
 * values of an abbreviation shows its label instead of them.
 */
export const describeJsonType = (
  node: JsonNode,
  defs: Readonly<Record<string, JsonNode>> = {},
  abbreviations: ReadonlyArray<Abbreviation> = [],
): string => {
  const ref = node.$ref ? defs[node.$ref.replace(/^#\/\$defs\//, "")] : undefined;
  const n: JsonNode = ref ? { ...ref, ...node, $ref: undefined, type: ref.type ?? node.type } : node;
  const inner = (m: JsonNode) => {
    const text = describeJsonType(m, defs, abbreviations);
    return text.includes(" | ") ? `(${text})` : text;
  };
  if (n.enum) {
    let values: ReadonlyArray<unknown> = n.enum;
    const labels: string[] = [];
    for (const a of abbreviations) {
      if (a.values.every((v) => values.includes(v))) {
        labels.push(a.label);
        values = values.filter((v) => !a.values.includes(v as string));
      }
    }
    return [...labels, ...values.map((v) => JSON.stringify(v))].join(" | ");
  }
  if (n.const !== undefined) return JSON.stringify(n.const);
  if (n.anyOf) return n.anyOf.map((a) => describeJsonType(a, defs, abbreviations)).join(" | ");
  if (n.type === "array") {
    if (Array.isArray(n.items)) return `[${(n.items as ReadonlyArray<JsonNode>).map(inner).join(", ")}]`;
    return n.items ? `list of ${inner(n.items as JsonNode)}` : "list";
  }
  if (n.type === "object") {
    return typeof n.additionalProperties === "object" ? `map of name → ${inner(n.additionalProperties)}` : "object";
  }
  if (n.type === "number" || n.type === "integer") {
    const lo = n.minimum ?? n.exclusiveMinimum;
    const hi = n.maximum ?? n.exclusiveMaximum;
    if (n.minimum !== undefined && n.maximum !== undefined) return `${n.type} ${lo}–${hi}`;
    const parts = [
      n.minimum !== undefined ? `≥ ${n.minimum}` : n.exclusiveMinimum !== undefined ? `> ${n.exclusiveMinimum}` : "",
      n.maximum !== undefined ? `≤ ${n.maximum}` : n.exclusiveMaximum !== undefined ? `< ${n.exclusiveMaximum}` : "",
    ].filter((p) => p !== "");
    return [n.type, ...parts].join(" ");
  }
  return n.type ?? "value";
};

/** Defaults of a struct schema's `optionalWith(…, { default })` fields, read from its AST (through refinements). */
const astDefaults = (ast: SchemaAST.AST): Record<string, unknown> => {
  if (ast._tag === "Refinement") return astDefaults(ast.from);
  if (ast._tag === "Transformation" && ast.transformation._tag === "TypeLiteralTransformation") {
    const out: Record<string, unknown> = {};
    for (const t of ast.transformation.propertySignatureTransformations) {
      const v = t.decode(Option.none());
      if (Option.isSome(v)) out[String(t.to)] = v.value;
    }
    return out;
  }
  return {};
};

/**
 * The options of a plugin's Schema: types from the decoded side's JSON Schema,
 * required-ness from the encoded side (what a pipeline file must give), defaults
 * from decoding `{}` or, when that fails (a required option), from the schema's AST.
 * Also returns the whole-options rule when `{}` fails for another reason.
 */
export const optionInfo = (
  plugin: AnyPlugin,
  abbreviations: ReadonlyArray<Abbreviation> = [],
): { readonly options: OptionInfo[]; readonly rule?: string } => {
  const typeSide = JSONSchema.make(Schema.typeSchema(plugin.options)) as JsonNode;
  const encoded = JSONSchema.make(Schema.encodedSchema(plugin.options)) as JsonNode;
  const required = new Set(encoded.required ?? []);
  const decoded = Schema.decodeUnknownEither(plugin.options)({});
  const defaults: Record<string, unknown> = decoded._tag === "Right"
    ? decoded.right as Record<string, unknown>
    : astDefaults(plugin.options.ast);
  const options = Object.entries(typeSide.properties ?? {}).map(([name, node]) => ({
    name,
    type: describeJsonType(node, typeSide.$defs, abbreviations),
    required: required.has(name),
    default: name in defaults ? Option.some(defaults[name]) : Option.none(),
  }));
  const rule = decoded._tag === "Left" && required.size === 0
    ? decoded.left.message.split("\n").pop()?.replace(/^[\s└├─│]+/, "")
    : undefined;
  return rule === undefined ? { options } : { options, rule };
};

/** The `scalpel shifts` text: shift plugins with options, then corruptions by family. */
export const shiftsText = (plugins: ReadonlyArray<AnyPlugin>): string => {
  const lines: string[] = ["Shift plugins (in a pipeline file: `shifts: [{ shift: NAME, options: {…} }]`):", ""];
  for (const p of plugins) {
    lines.push(p.name, `  ${p.description}`);
    const { options, rule } = optionInfo(p, [{ label: "<corruption>", values: CORRUPTION_NAMES }]);
    if (options.length === 0) lines.push("  options: none");
    else lines.push("  options:");
    const width = Math.max(0, ...options.map((o) => o.name.length));
    for (const o of options) {
      const note = o.required
        ? "required"
        : Option.isSome(o.default)
        ? `default ${JSON.stringify(o.default.value)}`
        : "optional";
      lines.push(`    ${o.name.padEnd(width)}  ${o.type}  (${note})`);
    }
    if (rule !== undefined) lines.push(`  rule: ${rule}`);
    lines.push("");
  }
  const families = [...new Set(CORRUPTION_NAMES.map((n) => CORRUPTIONS[n].family))];
  lines.push(
    `Corruptions (<corruption>; ${CORRUPTION_NAMES.length}, * = one of the 15 common ones; ` +
      "`scalpel corrupt --name NAME --out runs/NAME.png` shows them):",
  );
  const fw = Math.max(...families.map((f) => f.length));
  for (const f of families) {
    const names = CORRUPTION_NAMES.filter((n) => CORRUPTIONS[n].family === f).map((n) =>
      CORRUPTIONS[n].common ? `${n}*` : n
    );
    lines.push(`  ${f.padEnd(fw)}  ${names.join(", ")}`);
  }
  return lines.join("\n");
};

/** `scalpel shifts`. */
export const shifts = Command.make("shifts", {}, () =>
  Effect.gen(function* () {
    const registry = yield* Registry;
    yield* Console.log(shiftsText(registry.list("shift")));
  })).pipe(Command.withDescription("list the shift plugins with their options and defaults, and the corruption names"));
