/**
 * `scalpel schema`: print the JSON Schema of pipeline files (the encoded side of
 * the pipeline Schema: what a YAML/JSON file may contain), pretty-printed. Save it
 * and point an editor at it — e.g. with the YAML language server, a first line
 * `# yaml-language-server: $schema=./pipeline.schema.json` — to get completion and
 * checks while writing a pipeline file.
 * @module
 */
import { Command } from "@effect/cli";
import { Console } from "effect";
import { pipelineJsonSchema } from "../core/pipeline/schema.ts";

/** The schema text printed by `scalpel schema`. */
export const schemaText = (): string => JSON.stringify(pipelineJsonSchema(), null, 2);

/** `scalpel schema`. */
export const schema = Command.make("schema", {}, () => Console.log(schemaText())).pipe(
  Command.withDescription(
    "print the JSON Schema of pipeline files (for editors: `scalpel schema > pipeline.schema.json`, then " +
      "`# yaml-language-server: $schema=./pipeline.schema.json` in the YAML file)",
  ),
);
