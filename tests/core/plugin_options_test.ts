import { strict as assert } from "node:assert";
import { Either, JSONSchema, Schema } from "effect";
import { parse as parseYaml } from "yaml";
import { optionRows } from "../../core/plugin_options.ts";
import { pipelineJsonSchema } from "../../core/pipeline/schema.ts";
import { builtinPlugins } from "../../plugins/index.ts";
import corruption from "../../plugins/shifts/corruption.ts";

/** The keys a pipeline file may give a plugin, and the required ones, from the plugin's encoded JSON Schema. */
const encodedKeys = (options: Schema.Schema<unknown, unknown, never>) => {
  const json = JSONSchema.make(Schema.encodedSchema(options)) as {
    properties?: Record<string, unknown>;
    required?: ReadonlyArray<string>;
  };
  return { keys: Object.keys(json.properties ?? {}), required: [...(json.required ?? [])] };
};

Deno.test("plugin options: every option of every built-in plugin has a description of its own", () => {
  const missing: string[] = [];
  let count = 0;
  for (const p of builtinPlugins) {
    const rows = optionRows(p.options);
    const where = `${p.kind} ${p.name}`;
    // the rows cover exactly the keys a pipeline file may give, so no option escapes the check
    const { keys, required } = encodedKeys(p.options);
    assert.deepEqual(rows.map((r) => r.name), keys, `${where}: option names`);
    assert.deepEqual(rows.filter((r) => r.required).map((r) => r.name), required, `${where}: required options`);
    for (const r of rows) {
      count++;
      if (r.description === undefined || r.description.trim() === "") missing.push(`${where}: ${r.name}`);
      else assert.match(r.description, /^[A-Z`]/, `${where}: ${r.name} starts like a sentence`);
      assert.ok(r.type.length > 0, `${where}: ${r.name} has a type text`);
    }
  }
  assert.deepEqual(missing, [], "options without a description");
  assert.ok(count >= 50, `all options seen (${count})`);
});

Deno.test("plugin options: effect's generic descriptions of bare schemas do not count as documentation", () => {
  const bare = Schema.Struct({
    a: Schema.String,
    b: Schema.optional(Schema.Int),
    c: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 5)), { default: () => 2 }),
    d: Schema.Number.pipe(Schema.positive(), Schema.finite()),
    e: Schema.String.pipe(Schema.pattern(/^x+$/)),
    f: Schema.optional(Schema.Literal("p", "q")),
    g: Schema.Array(Schema.Boolean),
    h: Schema.String.pipe(Schema.filter((s) => s.length > 0)),
  });
  for (const r of optionRows(bare)) assert.equal(r.description, undefined, r.name);
  const documented = Schema.Struct({
    a: Schema.String.annotations({ description: "A doc." }),
    b: Schema.optional(Schema.Int.annotations({ description: "B doc." })),
    c: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 5)).annotations({ description: "C doc." }), {
      default: () => 2,
    }),
    d: Schema.optional(Schema.Number).annotations({ description: "D doc, on the property signature." }),
  });
  assert.deepEqual(optionRows(documented).map((r) => r.description), [
    "A doc.",
    "B doc.",
    "C doc.",
    "D doc, on the property signature.",
  ]);
});

Deno.test("plugin options: rows of a refined struct give name, type, required-ness and defaults", () => {
  const options = Schema.Struct({
    mode: Schema.optionalWith(Schema.Literal("x", "y").annotations({ description: "The mode." }), {
      default: () => "y" as const,
    }),
    rate: Schema.optionalWith(Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThan(1)), { default: () => 0.5 }),
    names: Schema.NonEmptyArray(Schema.String),
    size: Schema.optional(Schema.Tuple(Schema.Int, Schema.Int)),
    weights: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Number }), { default: () => ({}) }),
  }).pipe(Schema.filter((o) => o.names.length < 10 || "too many names"));
  assert.deepEqual(optionRows(options), [
    { name: "mode", type: '"x" | "y"', description: "The mode.", default: "y", required: false },
    { name: "rate", type: "number in (0, 1)", default: 0.5, required: false },
    { name: "names", type: "non-empty string[]", required: true },
    { name: "size", type: "[integer, integer]", required: false },
    { name: "weights", type: "Record<string, number>", default: {}, required: false },
  ]);
  assert.deepEqual(optionRows(Schema.Struct({})), []);
  assert.deepEqual(optionRows(Schema.String), [], "not a struct: no rows");
});

Deno.test("plugin options: corruption's severity row has its real default and description", () => {
  const rows = optionRows(corruption.options);
  assert.deepEqual(rows.map((r) => r.name), ["name", "severity", "constants"]);
  const severity = rows.find((r) => r.name === "severity")!;
  const decoded = Schema.decodeUnknownSync(corruption.options)({ name: "fog" });
  assert.equal(severity.default, decoded.severity);
  assert.equal(severity.default, 5);
  assert.equal(severity.required, false);
  assert.equal(severity.type, "integer 1..5 | non-empty (integer 1..5)[]");
  assert.match(severity.description ?? "", /severity 1–5/i);
  const constants = rows.find((r) => r.name === "constants")!;
  assert.equal(constants.type, '"cifar10-c" | "imagenet-c"');
  assert.equal(constants.default, decoded.constants);
  const name = rows.find((r) => r.name === "name")!;
  assert.equal(name.required, true);
  assert.equal("default" in name, false);
});

Deno.test("plugin options: defaults agree with decoding, for every built-in plugin that decodes {}", () => {
  let checked = 0;
  for (const p of builtinPlugins) {
    const decoded = Schema.decodeUnknownEither(p.options)({});
    if (Either.isLeft(decoded)) continue;
    const value = decoded.right as Record<string, unknown>;
    for (const r of optionRows(p.options)) {
      if ("default" in r) {
        assert.deepEqual(r.default, value[r.name], `${p.name}.${r.name}`);
        checked++;
      } else {
        assert.equal(value[r.name], undefined, `${p.name}.${r.name}: a value without a default`);
      }
    }
  }
  assert.ok(checked >= 15, `defaults checked: ${checked}`);
  const exclude = optionRows(builtinPlugins.find((p) => p.name === "auto-rgn")!.options).find((r) =>
    r.name === "exclude"
  );
  assert.equal(exclude?.type, "string[]");
});

interface JsonNode {
  readonly type?: string;
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonNode>>;
  readonly required?: ReadonlyArray<string>;
  readonly exclusiveMinimum?: number;
  readonly minimum?: number;
}

/** Every value of `key` anywhere in `value`. */
const valuesOf = (value: unknown, key: string): unknown[] =>
  Array.isArray(value)
    ? value.flatMap((v) => valuesOf(v, key))
    : typeof value === "object" && value !== null
    ? Object.entries(value).flatMap(([k, v]) => [...(k === key ? [v] : []), ...valuesOf(v, key)])
    : [];

Deno.test("pipeline JSON Schema: fields carry their descriptions and constraints", async () => {
  const schema = pipelineJsonSchema() as JsonNode;
  const props = schema.properties!;
  const field = (path: string): JsonNode => {
    let node: JsonNode = schema;
    for (const key of path.split(".")) {
      const next = node.properties?.[key];
      assert.ok(next !== undefined, `no ${path} in the JSON Schema`);
      node = next;
    }
    return node;
  };
  for (const path of ["finetune.epochs", "target.train", "seed"]) {
    assert.ok((field(path).description ?? "").length > 10, `${path} has a description`);
  }
  assert.match(field("finetune.epochs").description!, /epochs/);
  assert.match(field("target.train").description!, /fine-tuning/);
  // every field of the file, and of its nested settings, is described
  for (const [key, node] of Object.entries(props)) {
    assert.ok(node.description, `${key} has a description`);
    if (node.type === "object") {
      for (const [sub, n] of Object.entries(node.properties ?? {})) assert.ok(n.description, `${key}.${sub}`);
    }
  }
  // refinements survive: integers with their bounds, and defaulted fields stay optional
  assert.equal(field("finetune.epochs").type, "integer");
  assert.equal(field("finetune.epochs").exclusiveMinimum, 0);
  assert.equal(field("seed").type, "integer");
  assert.equal(field("seed").minimum, 0);
  assert.deepEqual([...schema.required!].sort(), ["dataset", "selections", "shifts"]);
  assert.deepEqual(field("finetune").required, []);
  // no reference left dangling and no $id twice (validators reject a schema whose $id repeats)
  assert.deepEqual(valuesOf(schema, "$ref"), []);
  const ids = valuesOf(schema, "$id");
  assert.equal(new Set(ids).size, ids.length, `repeated $id: ${ids.join(", ")}`);
  // the example pipelines use only keys the schema knows
  for (const entry of Deno.readDirSync(new URL("../../pipelines/", import.meta.url))) {
    const file = parseYaml(
      await Deno.readTextFile(new URL(`../../pipelines/${entry.name}`, import.meta.url)),
    ) as Record<string, unknown>;
    for (const [key, value] of Object.entries(file)) {
      assert.ok(key in props, `${entry.name}: ${key}`);
      if (props[key].type === "object" && typeof value === "object" && value !== null) {
        for (const sub of Object.keys(value)) assert.ok(sub in props[key].properties!, `${entry.name}: ${key}.${sub}`);
      }
    }
  }
});
