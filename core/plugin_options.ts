/**
 * A plugin's options as rows for help texts (`scalpel plugins`), read from its `options`
 * Schema (a `Schema.Struct`, possibly refined as a whole): per field its name, a short
 * type text, its `description` annotation, its default and whether a pipeline file
 * must give it.
 *
 * - Names and required-ness come from the encoded side (what a pipeline file says): a
 *   field is required unless it is `Schema.optional` / `Schema.optionalWith`.
 * - The default of `Schema.optionalWith(X, { default })` is read from the struct's
 *   AST: the field's decoding, applied to a missing value. (Decoding `{}` would fail
 *   as soon as one option is required, so it is not used.)
 * - The description is the one annotated on the field (on X, or on the property
 *   signature). effect's own generic descriptions of a bare schema (`a string`,
 *   `an integer`, `a number between 1 and 5`, …) do not count: the type text says as
 *   much. A description is taken for effect's own when it sits on a built-in keyword
 *   and equals effect's text, or sits on a built-in refinement or transformation and
 *   starts with a lower-case "a " / "an ", as all of effect's do; so write option
 *   descriptions as sentences starting with a capital letter.
 * @module
 */
import { Option, type Schema, SchemaAST } from "effect";

/** One option of a plugin. */
export interface OptionRow {
  /** The key in the pipeline file. */
  readonly name: string;
  /** Short human type text, e.g. `integer 1..5`, `"imagenet-c" | "cifar10-c"`, `string[]`. */
  readonly type: string;
  /** The field's description annotation, when it has one of its own. */
  readonly description?: string;
  /** The value used when the option is absent (fields with `optionalWith(…, { default })` only). */
  readonly default?: unknown;
  /** True when a pipeline file must give the option. */
  readonly required: boolean;
}

/** The rows of the options struct `options`, in field order; none when it is not a struct. */
export const optionRows = (
  // deno-lint-ignore no-explicit-any
  options: Schema.Schema<any, any, never>,
): ReadonlyArray<OptionRow> => {
  const struct = structOf(options.ast);
  if (struct === undefined) return [];
  const rows: OptionRow[] = [];
  for (const ps of struct.from.propertySignatures) {
    if (typeof ps.name !== "string") continue;
    const transformation = struct.transformations.find((t) => t.from === ps.name);
    const toName = transformation?.to ?? ps.name;
    const toPs = struct.to.propertySignatures.find((p) => p.name === toName);
    const description = [ps, toPs].flatMap((p) =>
      p === undefined ? [] : [
        Option.getOrUndefined(SchemaAST.getDescriptionAnnotation(p)),
        ownDescription(withoutUndefined(p.type)),
      ]
    ).find((d) => d !== undefined && d.trim() !== "");
    const fallback = transformation === undefined ? Option.none() : transformation.decode(Option.none());
    rows.push({
      name: ps.name,
      type: typeText(withoutUndefined(ps.type)),
      ...(description === undefined ? {} : { description }),
      ...(Option.isSome(fallback) ? { default: fallback.value } : {}),
      required: !ps.isOptional,
    });
  }
  return rows;
};

interface StructSides {
  /** Encoded side: the keys a pipeline file may give. */
  readonly from: SchemaAST.TypeLiteral;
  /** Decoded side. */
  readonly to: SchemaAST.TypeLiteral;
  /** Field by field, from → to (defaults, renamed keys); empty for a struct without either. */
  readonly transformations: ReadonlyArray<SchemaAST.PropertySignatureTransformation>;
}

/** The struct under refinements (whole-options rules) and transformations, or undefined. */
const structOf = (ast: SchemaAST.AST): StructSides | undefined => {
  switch (ast._tag) {
    case "TypeLiteral":
      return { from: ast, to: ast, transformations: [] };
    case "Refinement":
      return structOf(ast.from);
    case "Suspend":
      return structOf(ast.f());
    case "Transformation":
      if (
        ast.transformation._tag === "TypeLiteralTransformation" && SchemaAST.isTypeLiteral(ast.from) &&
        SchemaAST.isTypeLiteral(ast.to)
      ) {
        return { from: ast.from, to: ast.to, transformations: ast.transformation.propertySignatureTransformations };
      }
      return structOf(ast.from); // another transformation: the pipeline file gives its encoded side
    default:
      return undefined;
  }
};

/** `X` of an optional field's `X | undefined`. */
const withoutUndefined = (ast: SchemaAST.AST): SchemaAST.AST => {
  if (!SchemaAST.isUnion(ast)) return ast;
  const types = ast.types.filter((t) => !SchemaAST.isUndefinedKeyword(t));
  return types.length === 1 && types.length < ast.types.length ? types[0] : ast;
};

/** effect's keyword schemas, whose descriptions (`a string`, …) are effect's own. */
const keywords: ReadonlyArray<SchemaAST.AST> = [
  SchemaAST.stringKeyword,
  SchemaAST.numberKeyword,
  SchemaAST.booleanKeyword,
  SchemaAST.bigIntKeyword,
  SchemaAST.symbolKeyword,
  SchemaAST.objectKeyword,
  SchemaAST.unknownKeyword,
  SchemaAST.anyKeyword,
  SchemaAST.undefinedKeyword,
  SchemaAST.voidKeyword,
  SchemaAST.neverKeyword,
];

/** The description annotated on `ast`, unless it is effect's generic one for a bare schema. */
export const ownDescription = (ast: SchemaAST.AST): string | undefined => {
  const d = Option.getOrUndefined(SchemaAST.getDescriptionAnnotation(ast));
  if (d === undefined) return undefined;
  const keyword = keywords.find((k) => k._tag === ast._tag);
  if (keyword !== undefined && d === Option.getOrUndefined(SchemaAST.getDescriptionAnnotation(keyword))) {
    return undefined;
  }
  const builtIn = SchemaAST.isTransformation(ast) || SchemaAST.isDeclaration(ast) ||
    (SchemaAST.isRefinement(ast) && Option.isSome(SchemaAST.getSchemaIdAnnotation(ast)));
  return builtIn && /^an? /.test(d) ? undefined : d;
};

/** Above this many literal values, a union's type text shows the first few and the count. */
const MAX_LISTED_LITERALS = 6;

/** `text` as an element of an array or a union member of a larger text. */
const grouped = (text: string): string => /\s/.test(text) ? `(${text})` : text;

const literalText = (literal: SchemaAST.LiteralValue): string =>
  typeof literal === "bigint" ? `${literal}n` : JSON.stringify(literal);

/** A short human text for the type of `ast` (its encoded side: what a pipeline file gives). */
export const typeText = (ast: SchemaAST.AST): string => {
  switch (ast._tag) {
    case "StringKeyword":
      return "string";
    case "NumberKeyword":
      return "number";
    case "BooleanKeyword":
      return "boolean";
    case "BigIntKeyword":
      return "bigint";
    case "UndefinedKeyword":
      return "undefined";
    case "Literal":
      return literalText(ast.literal);
    case "Enums":
      return ast.enums.map(([, value]) => JSON.stringify(value)).join(" | ");
    case "Union": {
      const literals = ast.types.filter(SchemaAST.isLiteral);
      if (literals.length === ast.types.length && literals.length > MAX_LISTED_LITERALS) {
        const first = literals.slice(0, 3).map((l) => literalText(l.literal));
        return `${first.join(" | ")} | … (${literals.length} values)`;
      }
      return ast.types.map(typeText).join(" | ");
    }
    case "TupleType":
      return tupleText(ast);
    case "TypeLiteral":
      return objectText(ast);
    case "Refinement":
      return refinementText(ast);
    case "Transformation":
      return typeText(ast.from);
    case "TemplateLiteral":
      return "string";
    default: // keywords such as unknown, declarations, suspended (recursive) schemas
      return Option.getOrElse(SchemaAST.getTitleAnnotation(ast), () => ast._tag.replace(/Keyword$/, "").toLowerCase());
  }
};

const tupleText = (ast: SchemaAST.TupleType): string => {
  const elements = ast.elements.map((e) => `${typeText(e.type)}${e.isOptional ? "?" : ""}`);
  const [rest, ...after] = ast.rest.map((r) => typeText(r.type));
  if (rest !== undefined && after.length === 0) {
    if (elements.length === 0) return `${grouped(rest)}[]`;
    // NonEmptyArray(X): [X, ...X[]]
    if (elements.length === 1 && elements[0] === rest) return `non-empty ${grouped(rest)}[]`;
  }
  const parts = [...elements, ...(rest === undefined ? [] : [`...${grouped(rest)}[]`]), ...after];
  return `[${parts.join(", ")}]`;
};

const objectText = (ast: SchemaAST.TypeLiteral): string => {
  const fields = ast.propertySignatures.map((ps) =>
    `${String(ps.name)}${ps.isOptional ? "?" : ""}: ${typeText(ps.isOptional ? withoutUndefined(ps.type) : ps.type)}`
  );
  const indexes = ast.indexSignatures.map((is) => `[${typeText(is.parameter)}]: ${typeText(is.type)}`);
  if (fields.length === 0 && ast.indexSignatures.length === 1) {
    const [is] = ast.indexSignatures;
    return `Record<${typeText(is.parameter)}, ${typeText(is.type)}>`;
  }
  const all = [...fields, ...indexes];
  return all.length === 0 ? "{}" : `{ ${all.join("; ")} }`;
};

/** JSON Schema keywords effect's built-in filters record, merged along a chain of refinements. */
interface Constraints {
  type?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}

/** E.g. `integer 1..5`, `number > 0`, `number in (0, 1)`, `string matching /^[a-z]+$/`. */
const refinementText = (ast: SchemaAST.Refinement): string => {
  const chain: SchemaAST.Refinement[] = [];
  let base: SchemaAST.AST = ast;
  while (SchemaAST.isRefinement(base)) {
    chain.unshift(base);
    base = base.from;
  }
  const c: Constraints = {};
  for (const r of chain) Object.assign(c, Option.getOrElse(SchemaAST.getJSONSchemaAnnotation(r), () => ({})));
  const text = c.type === "integer" ? "integer" : typeText(base);
  const lo = c.minimum ?? c.exclusiveMinimum;
  const hi = c.maximum ?? c.exclusiveMaximum;
  const parts: string[] = [];
  if (lo !== undefined && hi !== undefined) {
    parts.push(
      c.minimum !== undefined && c.maximum !== undefined
        ? `${lo}..${hi}`
        : `in ${c.minimum !== undefined ? "[" : "("}${lo}, ${hi}${c.maximum !== undefined ? "]" : ")"}`,
    );
  } else if (lo !== undefined) parts.push(`${c.minimum !== undefined ? ">=" : ">"} ${lo}`);
  else if (hi !== undefined) parts.push(`${c.maximum !== undefined ? "<=" : "<"} ${hi}`);
  if (c.pattern !== undefined) parts.push(`matching /${c.pattern}/`);
  const length = (what: string, min?: number, max?: number) => {
    if (min !== undefined && max !== undefined) parts.push(`of ${min}..${max} ${what}`);
    else if (min !== undefined) parts.push(`of at least ${min} ${what}`);
    else if (max !== undefined) parts.push(`of at most ${max} ${what}`);
  };
  length("characters", c.minLength, c.maxLength);
  length("items", c.minItems, c.maxItems);
  return parts.length === 0 ? text : `${grouped(text)} ${parts.join(" ")}`;
};
