// Shared by validate.mjs and check_response.mjs: loading an OpenAPI 3.0
// description, turning its schema objects into JSON Schema that Ajv
// compiles in strict mode, finding the operation and response a concrete
// request maps to, and checking a JSON body against a response schema.

import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv from "ajv";

export const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Validates the description at `file` (OpenAPI schema and spec rules) and
/// returns it with every $ref resolved. Throws what swagger-parser throws.
export async function loadApi(file) {
  return SwaggerParser.validate(file);
}

/// Whether `mediaType` (parameters allowed) is JSON.
export function isJsonMediaType(mediaType) {
  const base = mediaType.split(";")[0].trim().toLowerCase();
  return base === "application/json" || /^application\/[^/]+\+json$/.test(base);
}

// OpenAPI 3.0 keywords that say nothing about validity.
const ANNOTATIONS = new Set(["example", "externalDocs", "xml", "discriminator", "deprecated", "readOnly", "writeOnly"]);

/// The JSON Schema (draft-07, as Ajv reads it) of an OpenAPI 3.0 schema
/// object whose $refs are resolved: `nullable: true` becomes a "null" in
/// the type (and enum), or an anyOf with {type: "null"} around a schema
/// without type; boolean exclusiveMinimum/exclusiveMaximum become numeric;
/// annotations Ajv does not know (example, xml, ...) and x- extensions go.
/// Never changes its input. `at` names the place, for errors.
export function toJsonSchema(schema, at = "#") {
  const onPath = new Set();
  const convert = (s, where) => {
    if (typeof s === "boolean") return s;
    if (s === null || typeof s !== "object" || Array.isArray(s))
      throw new Error(`${where}: a schema must be an object, got ${JSON.stringify(s)}`);
    if (onPath.has(s)) throw new Error(`${where}: the schema refers to itself; recursive schemas are not supported`);
    onPath.add(s);
    const out = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === "nullable" || ANNOTATIONS.has(k) || k.startsWith("x-")) continue;
      switch (k) {
        case "properties": {
          out.properties = {};
          for (const [name, sub] of Object.entries(v)) out.properties[name] = convert(sub, `${where}/properties/${name}`);
          break;
        }
        case "additionalProperties":
        case "items":
        case "not":
          out[k] = typeof v === "object" ? convert(v, `${where}/${k}`) : v;
          break;
        case "allOf":
        case "anyOf":
        case "oneOf":
          out[k] = v.map((sub, i) => convert(sub, `${where}/${k}/${i}`));
          break;
        case "exclusiveMinimum":
        case "exclusiveMaximum":
          break;  // below, with minimum and maximum
        default:
          out[k] = v;
      }
    }
    for (const [flag, bound] of [["exclusiveMinimum", "minimum"], ["exclusiveMaximum", "maximum"]]) {
      if (s[flag] === true) {
        if (typeof s[bound] !== "number") throw new Error(`${where}: ${flag}: true without ${bound}`);
        out[flag] = s[bound];
        delete out[bound];
      } else if (typeof s[flag] === "number") {
        out[flag] = s[flag];  // already JSON Schema's form
      }
    }
    onPath.delete(s);
    if (s.nullable !== true) return out;
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    if (typeof out.type === "string") {
      out.type = [out.type, "null"];
      return out;
    }
    if (Array.isArray(out.type)) {
      if (!out.type.includes("null")) out.type = [...out.type, "null"];
      return out;
    }
    // No type: the schema may still refuse null (allOf, anyOf, enum, ...).
    const { description, title, ...rest } = out;
    if (Object.keys(rest).length === 0) return out;  // accepts anything already
    const wrapped = { anyOf: [{ type: "null" }, rest] };
    if (description !== undefined) wrapped.description = description;
    if (title !== undefined) wrapped.title = title;
    return wrapped;
  };
  return convert(schema, at);
}

/// An Ajv in strict mode with OpenAPI's number and string formats.
export function makeAjv() {
  const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true, validateFormats: true });
  const int = (bits) => (n) => Number.isInteger(n) && Math.abs(n) <= 2 ** (bits - 1);
  ajv.addFormat("int32", { type: "number", validate: int(32) });
  ajv.addFormat("int64", { type: "number", validate: int(64) });
  ajv.addFormat("float", { type: "number", validate: () => true });
  ajv.addFormat("double", { type: "number", validate: () => true });
  ajv.addFormat("byte", { type: "string", validate: (s) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0 });
  ajv.addFormat("binary", { type: "string", validate: () => true });
  ajv.addFormat("password", { type: "string", validate: () => true });
  return ajv;
}

/// Every operation of `api`: {path, method, operation}.
export function* operations(api) {
  for (const [path, item] of Object.entries(api.paths ?? {})) {
    for (const method of METHODS) if (item[method]) yield { path, method, operation: item[method] };
  }
}

/// The spec path that concrete `path` (no query) matches, or null. A path
/// without templates wins over a templated one; among templated ones, the
/// one with the most literal characters. A template matches one segment
/// (no '/').
export function matchPath(api, path) {
  let best = null;
  for (const template of Object.keys(api.paths ?? {})) {
    const parts = template.split(/(\{[^}]+\})/);
    const literal = parts.filter((p) => !p.startsWith("{")).join("").length;
    const re = new RegExp(
      "^" + parts.map((p) => (p.startsWith("{") ? "([^/]+)" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("") + "$");
    if (!re.test(path)) continue;
    const score = parts.length === 1 ? Infinity : literal;
    if (!best || score > best.score) best = { template, score };
  }
  return best?.template ?? null;
}

/// The response object of `operation` for `status`: the exact code, then
/// its range (4XX), then default; with the key it was found under.
export function pickResponse(operation, status) {
  const responses = operation.responses ?? {};
  for (const key of [String(status), `${String(status)[0]}XX`, `${String(status)[0]}xx`, "default"])
    if (responses[key]) return { key, response: responses[key] };
  return null;
}

const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

/// The places (JSON pointers) of numbers that `text`, a valid JSON text,
/// spells with a fraction or an exponent although their value is an
/// integer (2.0, 1e3): JSON.parse makes them integers, so only the text
/// tells an integer member from a floating one.
export function integralFloats(text) {
  const found = [];
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i])) ++i;
  };
  const string = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    ++i;
    return JSON.parse(text.slice(start, i));
  };
  const escape = (s) => String(s).replace(/~/g, "~0").replace(/\//g, "~1");
  // An explicit stack: a value may nest thousands of levels deep.
  const value = (pointer) => {
    const stack = [];
    let at = pointer;
    for (;;) {
      ws();
      const c = text[i];
      if (c === "{" || c === "[") {
        ++i;
        ws();
        const frame = { object: c === "{", base: at, index: 0 };
        if (text[i] === (frame.object ? "}" : "]")) {
          ++i;
        } else {
          stack.push(frame);
          if (frame.object) {
            const name = string();
            ws();
            ++i;  // ':'
            at = `${frame.base}/${escape(name)}`;
          } else {
            at = `${frame.base}/0`;
          }
          continue;
        }
      } else if (c === '"') {
        string();
      } else if (c === "t" || c === "n") {
        i += 4;
      } else if (c === "f") {
        i += 5;
      } else {
        NUMBER.lastIndex = i;
        const m = NUMBER.exec(text);
        if (!m) throw new Error(`unexpected ${JSON.stringify(c)} at byte ${i}`);
        if ((m[1] || m[2]) && Number.isInteger(Number(m[0]))) found.push(at);
        i += m[0].length;
      }
      // After a value: the next member or element, or close containers.
      for (;;) {
        if (stack.length === 0) return;
        const frame = stack[stack.length - 1];
        ws();
        if (text[i] === ",") {
          ++i;
          ws();
          ++frame.index;
          if (frame.object) {
            const name = string();
            ws();
            ++i;
            at = `${frame.base}/${escape(name)}`;
          } else {
            at = `${frame.base}/${frame.index}`;
          }
          break;
        }
        ++i;  // '}' or ']'
        stack.pop();
      }
    }
  };
  value("");
  return found;
}

/// Replaces the value at each pointer of `pointers` in `data` (a copy) by a
/// number that is not an integer: what an integer schema must refuse.
function withFloats(data, pointers) {
  const copy = structuredClone(data);
  for (const p of pointers) {
    if (p === "") return typeof copy === "number" ? copy + 0.5 : copy;
    const names = p.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    let parent = copy;
    for (const n of names.slice(0, -1)) parent = parent?.[n];
    const last = names[names.length - 1];
    if (parent && typeof parent[last] === "number") parent[last] += 0.5;
  }
  return copy;
}

/// Checks the JSON `text` against `validate` (a compiled Ajv schema):
/// {ok: true} or {ok: false, errors: [strings]}. Also refuses a number
/// spelled as a float (2.0) where the schema wants an integer.
export function checkJson(validate, text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const trimmed = text.trim();
    const why = trimmed === "" ? "the body is empty" : `the body is not valid JSON (${e.message}; ${text.length} bytes)`;
    return { ok: false, errors: [why] };
  }
  if (!validate(data)) return { ok: false, errors: validate.errors.map(describeError) };
  const floats = integralFloats(text);
  if (floats.length > 0 && !validate(withFloats(data, floats))) {
    const wrong = validate.errors.filter(
      (e) => e.keyword === "type" && String(e.params.type).includes("integer") && floats.includes(e.instancePath));
    if (wrong.length > 0)
      return {
        ok: false,
        errors: wrong.map((e) => `${e.instancePath || "(root)"}: an integer spelled as a floating-point number (the server sent a float)`),
      };
  }
  return { ok: true, errors: [] };
}

export function describeError(e) {
  const where = e.instancePath || "(root)";
  let detail = "";
  if (e.keyword === "additionalProperties") detail = ` (${JSON.stringify(e.params.additionalProperty)})`;
  else if (e.keyword === "enum") detail = ` (one of ${JSON.stringify(e.params.allowedValues)})`;
  return `${where}: ${e.message}${detail} [schema ${e.schemaPath}]`;
}
