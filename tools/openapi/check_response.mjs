#!/usr/bin/env node
// Checks one live response against an OpenAPI 3.0 description:
//
//   node tools/openapi/check_response.mjs SPEC METHOD PATH STATUS BODY_FILE [CONTENT_TYPE]
//
//   curl -s -o /tmp/body -w '%{http_code} %{content_type}\n' http://127.0.0.1:8080/v1/status
//   node tools/openapi/check_response.mjs reference_server/openapi.yaml GET /v1/status 200 /tmp/body
//
// PATH is the concrete request path (/v1/records/user%3A1?version=3; the
// query is ignored), matched against the spec's templated paths. The
// response is the operation's STATUS entry, else its range (4XX), else
// `default`. HEAD uses the GET operation when the spec has no HEAD one, and
// its body must be empty.
//
// CONTENT_TYPE (optional, e.g. curl's %{content_type}) picks the media type;
// without it, a JSON media type is used when the response declares one. A
// JSON body is validated with Ajv against the media type's schema (OpenAPI
// 3.0 `nullable` and boolean exclusive bounds are translated; a number the
// body spells as a float where the schema wants an integer fails). For a
// non-JSON media type (text/plain for /metrics) only the declaration is
// checked. A response that declares no content must come with an empty body.
//
// Exit 0 when the response matches; 1 otherwise, printing the path, status,
// errors and the first 500 characters of the body; 2 for a usage error.

import { readFileSync } from "node:fs";
import {
  isJsonMediaType,
  checkJson,
  loadApi,
  makeAjv,
  matchPath,
  pickResponse,
  toJsonSchema,
} from "./oas.mjs";

const args = process.argv.slice(2);
if (args.length < 5 || args.length > 6) {
  console.error("usage: node check_response.mjs SPEC METHOD PATH STATUS BODY_FILE [CONTENT_TYPE]");
  process.exit(2);
}
const [spec, methodArg, target, statusArg, bodyFile, contentTypeArg] = args;
const method = methodArg.toLowerCase();
const path = target.replace(/[?#].*$/s, "");
const status = statusArg.trim();
if (!/^[1-5]\d\d$/.test(status)) {
  console.error(`check_response: STATUS must be an HTTP status code (100 to 599), got ${JSON.stringify(statusArg)}`);
  process.exit(2);
}

let bodyBytes;
try {
  bodyBytes = readFileSync(bodyFile);
} catch (e) {
  console.error(`check_response: cannot read BODY_FILE: ${e.message}`);
  process.exit(2);
}

const what = `${methodArg.toUpperCase()} ${target} ${status}`;
const fail = (errors, body) => {
  console.error(`FAIL ${what}`);
  for (const e of errors) console.error(`  ${e}`);
  if (body !== undefined) {
    const shown = body.length > 500 ? `${body.slice(0, 500)}... (${body.length} characters)` : body;
    console.error(`  body: ${shown === "" ? "(empty)" : shown}`);
  }
  process.exit(1);
};

let body;
try {
  body = new TextDecoder("utf-8", { fatal: true }).decode(bodyBytes);
} catch {
  body = new TextDecoder("utf-8").decode(bodyBytes);
  fail(["the body is not valid UTF-8"], body);
}

let api;
try {
  api = await loadApi(spec);
} catch (e) {
  fail([`the spec ${spec} is invalid (run validate.mjs): ${e.message}`]);
}

const template = matchPath(api, path);
if (!template) fail([`no path of the spec matches ${JSON.stringify(path)}`], body);
const item = api.paths[template];
let operation = item[method];
let headAsGet = false;
if (!operation && method === "head" && item.get) {
  operation = item.get;
  headAsGet = true;
}
if (!operation) {
  const declared = Object.keys(item).filter((k) => k !== "parameters" && !k.startsWith("x-") && typeof item[k] === "object" && item[k].responses);
  fail([`the spec has no ${methodArg.toUpperCase()} operation for ${template} (it has ${declared.map((m) => m.toUpperCase()).join(", ") || "none"})`], body);
}
const picked = pickResponse(operation, status);
if (!picked) {
  fail([`${methodArg.toUpperCase()} ${template} declares no response ${status} (nor ${status[0]}XX or default); it declares ${Object.keys(operation.responses ?? {}).join(", ")}`], body);
}
const where = `${methodArg.toUpperCase()} ${template} responses[${picked.key}]`;

if (headAsGet || method === "head") {
  if (body.length > 0) fail([`${where}: a HEAD response must have no body, got ${body.length} bytes`], body);
  console.log(`ok: ${what} (${where}, HEAD: no body)`);
  process.exit(0);
}

const content = picked.response.content ?? {};
const mediaTypes = Object.keys(content);
if (mediaTypes.length === 0) {
  if (body.length > 0) fail([`${where} declares no content, but the body has ${body.length} bytes`], body);
  console.log(`ok: ${what} (${where}, no content)`);
  process.exit(0);
}

// The media type: the one CONTENT_TYPE names (type/subtype, then type/*,
// then */*), else a JSON one, else the only one.
const base = (t) => t.split(";")[0].trim().toLowerCase();
let mediaType;
if (contentTypeArg !== undefined && contentTypeArg.trim() !== "") {
  const wanted = base(contentTypeArg);
  mediaType =
    mediaTypes.find((m) => base(m) === wanted) ??
    mediaTypes.find((m) => base(m) === `${wanted.split("/")[0]}/*`) ??
    mediaTypes.find((m) => base(m) === "*/*");
  if (!mediaType)
    fail([`${where} declares ${mediaTypes.join(", ")}, not the response's Content-Type ${contentTypeArg}`], body);
} else {
  mediaType = mediaTypes.find(isJsonMediaType);
  // A body that is not JSON may be the response's other media type.
  if (mediaType && mediaTypes.length > 1) {
    try {
      JSON.parse(body);
    } catch {
      mediaType = mediaTypes.find((m) => !isJsonMediaType(m));
    }
  }
  mediaType ??= mediaTypes[0];
}

if (!isJsonMediaType(mediaType)) {
  console.log(`ok: ${what} (${where}, ${mediaType}: declared; the body is not checked)`);
  process.exit(0);
}
const schema = content[mediaType].schema;
if (!schema) fail([`${where} ${mediaType} has no schema`], body);

let validate;
try {
  validate = makeAjv().compile(toJsonSchema(schema, `${where} ${mediaType}`));
} catch (e) {
  fail([`${where} ${mediaType}: the schema does not compile: ${e.message}`]);
}
const result = checkJson(validate, body);
if (!result.ok) fail([`against ${where} ${mediaType}:`, ...result.errors.map((e) => `  ${e}`)], body);
console.log(`ok: ${what} (${where}, ${mediaType})`);
