#!/usr/bin/env node
// Validates an OpenAPI 3.0 description:
//
//   node tools/openapi/validate.mjs reference_server/openapi.yaml
//
// 1. swagger-parser's `validate`: the OpenAPI 3.0 JSON schema and the spec's
//    own rules (unique operationIds, path parameters declared, ...), with
//    every $ref resolved;
// 2. completeness: every response of every operation declares a content
//    type with a schema (a 204, 304 or HEAD response excepted);
// 3. every JSON response and request-body schema compiles with Ajv in
//    strict mode (as check_response.mjs compiles it), which catches
//    keywords that do nothing.
//
// Prints "openapi: SPEC is valid (N paths, M operations)" and exits 0, or
// prints the errors and exits 1 (2 for a usage error).

import { isJsonMediaType, loadApi, makeAjv, operations, toJsonSchema } from "./oas.mjs";

const args = process.argv.slice(2);
if (args.length !== 1 || args[0].startsWith("-")) {
  console.error("usage: node validate.mjs SPEC");
  process.exit(2);
}
const spec = args[0];

let api;
try {
  api = await loadApi(spec);
} catch (e) {
  console.error(`openapi: ${spec} is invalid:\n${e.message}`);
  process.exit(1);
}

const problems = [];
const ajv = makeAjv();
const compiles = (schema, where) => {
  try {
    ajv.compile(toJsonSchema(schema, where));
  } catch (e) {
    problems.push(`${where}: the schema does not compile in Ajv strict mode: ${e.message}`);
  }
};

let count = 0;
for (const { path, method, operation } of operations(api)) {
  ++count;
  const op = `${method.toUpperCase()} ${path}`;
  const responses = Object.entries(operation.responses ?? {});
  if (responses.length === 0) problems.push(`${op}: no responses`);
  for (const [status, response] of responses) {
    const where = `${op} ${status}`;
    const content = Object.entries(response.content ?? {});
    if (content.length === 0) {
      if (!["204", "304"].includes(status) && method !== "head") problems.push(`${where}: no content (no schema)`);
      continue;
    }
    for (const [mediaType, media] of content) {
      if (!media.schema) {
        problems.push(`${where} ${mediaType}: no schema`);
        continue;
      }
      if (isJsonMediaType(mediaType)) compiles(media.schema, `${where} ${mediaType}`);
    }
  }
  for (const [mediaType, media] of Object.entries(operation.requestBody?.content ?? {}))
    if (media.schema && isJsonMediaType(mediaType)) compiles(media.schema, `${op} request body ${mediaType}`);
}

if (problems.length > 0) {
  console.error(`openapi: ${spec} is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"}):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
const paths = Object.keys(api.paths ?? {}).length;
console.log(`openapi: ${spec} is valid (${paths} paths, ${count} operations)`);
