// What a request asks its output to be held to (grammar-guided decoding,
// src/guided/): OpenAI's response_format (and vLLM's structural_tag type of
// it), and vLLM's fields for the same (guided_json / guided_choice /
// guided_grammar / guided_regex, and structured_outputs, which newer vLLM
// uses instead), and llama.cpp's server's (grammar: GBNF, which xgrammar's
// EBNF follows; json_schema). At most one may be given. What is not served
// (whitespace_pattern) is a 400, not ignored.

import type { GuideSpec } from '../engine/types.js';
import { badRequest } from './errors.js';
import { isRecord } from '../is-record.js';

export interface MaybeFormatted {
  response_format?: unknown;
  guided_json?: unknown;
  guided_choice?: unknown;
  guided_grammar?: unknown;
  guided_regex?: unknown;
  structured_outputs?: unknown;
  grammar?: unknown;
  json_schema?: unknown;
}

const given = (v: unknown): boolean => v !== undefined && v !== null;

/**
 * OpenAI's response_format: "text" (or none) leaves the output free;
 * "json_object" holds it to a JSON object; "json_schema" to
 * json_schema.schema (a JSON Schema; properties it does not name are not
 * generated, as OpenAI's strict mode). Anything else is a 400.
 */
function responseFormat(rf: unknown): GuideSpec | null {
  if (!given(rf)) return null;
  const type = isRecord(rf) ? rf.type : rf;
  if (type === 'text') return null;
  if (type === 'json_object') return { kind: 'json_object' };
  if (type === 'json_schema') {
    const js = isRecord(rf) ? rf.json_schema : undefined;
    if (!isRecord(js)) throw badRequest('response_format json_schema needs a json_schema object with the schema in its "schema" field.', 'response_format');
    return { kind: 'json_schema', schema: schemaText(js.schema, 'response_format', 'response_format json_schema.schema') };
  }
  if (type === 'structural_tag' && isRecord(rf)) return structuralTag(rf, 'response_format', 'response_format');
  throw badRequest(`response_format ${JSON.stringify(type ?? null)} is not supported by this server; only "text", "json_object", "json_schema" or "structural_tag" is.`, 'response_format');
}

const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';

/**
 * vLLM's structural tag (response_format type "structural_tag", or
 * structured_outputs.structural_tag): the legacy form, `structures` (each
 * {begin, schema, end}) and `triggers` (free text until one of them, then
 * the tag it opens, its body JSON of the schema), or xgrammar's current form
 * with a `format` object, handed to the library as it is.
 */
function structuralTag(o: Record<string, unknown>, field: string, what: string): GuideSpec {
  if (given(o.structures)) {
    const { structures, triggers } = o;
    const ok = (st: unknown): boolean => isRecord(st) && isText(st.begin) && typeof st.end === 'string' && isSchema(st.schema);
    if (!Array.isArray(structures) || structures.length === 0 || !structures.every(ok)) {
      throw badRequest(`${what} structures must be a non-empty list of {"begin", "schema", "end"} (begin a non-empty string, schema a JSON Schema object).`, field);
    }
    if (!Array.isArray(triggers) || triggers.length === 0 || !triggers.every(isText)) {
      throw badRequest(`${what} triggers must be a non-empty list of non-empty strings.`, field);
    }
    if (!structures.every((st: { begin: string }) => triggers.some((tr) => st.begin.startsWith(tr)))) {
      throw badRequest(`${what}: every structure's begin must start with one of the triggers.`, field);
    }
    return { kind: 'structural_tag', tag: JSON.stringify({ structures, triggers }) };
  }
  if (!isRecord(o.format)) throw badRequest(`${what} needs "structures" and "triggers", or a "format" object (xgrammar's structural tag).`, field);
  return { kind: 'structural_tag', tag: JSON.stringify({ type: 'structural_tag', format: o.format }) };
}

/** A field vLLM takes as JSON text or as the value itself: the value. */
function jsonValue(v: unknown, field: string, what: string): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    throw badRequest(`${what} is a string that is not JSON.`, field);
  }
}

/** A JSON Schema's shape: an object, or true / false. */
const isSchema = (v: unknown): boolean => isRecord(v) || typeof v === 'boolean';

/** A JSON Schema given as an object (or true/false), or as its JSON text (vLLM's guided_json takes both). */
function schemaText(v: unknown, field: string, what: string, textOk = false): string {
  const value = textOk ? jsonValue(v, field, what) : v;
  if (!isSchema(value)) throw badRequest(`${what} must be a JSON Schema (an object).`, field);
  return JSON.stringify(value);
}

/** A field that is a JSON Schema, as an object or as JSON text. */
function jsonSchema(v: unknown, field: string, what = field): GuideSpec {
  return { kind: 'json_schema', schema: schemaText(v, field, what, true) };
}

function choice(v: unknown, field: string): GuideSpec {
  if (!Array.isArray(v) || v.length === 0 || !v.every((c) => typeof c === 'string' && c !== '')) {
    throw badRequest(`${field} must be a non-empty list of non-empty strings.`, field);
  }
  return { kind: 'choice', choices: v as string[] };
}

function grammar(v: unknown, field: string): GuideSpec {
  if (typeof v !== 'string' || v.trim() === '') throw badRequest(`${field} must be a grammar in EBNF (xgrammar's dialect, with a rule "root").`, field);
  return { kind: 'grammar', ebnf: v };
}

function regex(v: unknown, field: string): GuideSpec {
  if (!isText(v)) throw badRequest(`${field} must be a regular expression (a non-empty string).`, field);
  return { kind: 'regex', pattern: v };
}

/** structured_outputs.structural_tag: vLLM takes it as JSON text; an object is taken too. */
function structuralTagField(v: unknown, field: string): GuideSpec {
  const o = jsonValue(v, field, field);
  if (!isRecord(o)) throw badRequest(`${field} must be a structural tag (JSON text or an object).`, field);
  return structuralTag(o, field, field);
}

const SO_KINDS = 'json, json_object, choice, grammar, regex, structural_tag';

/** vLLM's structured_outputs object: one of json, json_object, choice, grammar, regex, structural_tag. */
function structuredOutputs(so: unknown): GuideSpec | null {
  if (!given(so)) return null;
  const field = 'structured_outputs';
  if (!isRecord(so)) throw badRequest(`${field} must be an object with one of ${SO_KINDS}.`, field);
  const specs: GuideSpec[] = [];
  if (given(so.json)) specs.push(jsonSchema(so.json, field, `${field}.json`));
  if (so.json_object === true) specs.push({ kind: 'json_object' });
  if (given(so.choice)) specs.push(choice(so.choice, `${field}.choice`));
  if (given(so.grammar)) specs.push(grammar(so.grammar, `${field}.grammar`));
  if (given(so.regex)) specs.push(regex(so.regex, `${field}.regex`));
  if (given(so.structural_tag)) specs.push(structuralTagField(so.structural_tag, `${field}.structural_tag`));
  if (given(so.whitespace_pattern)) throw badRequest(`${field}.whitespace_pattern is not supported by this server.`, field);
  if (specs.length > 1) throw badRequest(`${field} takes one of ${SO_KINDS}; got ${specs.length}.`, field);
  return specs[0] ?? null;
}

/** A format and the field that asked for it (a grammar that does not compile is a 400 naming it). */
export interface OutputFormat {
  spec: GuideSpec;
  field: string;
}

/** The format the request's output is held to, or null; more than one way of asking is a 400. */
export function outputFormat(body: MaybeFormatted): OutputFormat | null {
  const found: [string, GuideSpec][] = [];
  const rf = responseFormat(body.response_format);
  if (rf !== null) found.push(['response_format', rf]);
  if (given(body.guided_json)) found.push(['guided_json', jsonSchema(body.guided_json, 'guided_json')]);
  if (given(body.guided_choice)) found.push(['guided_choice', choice(body.guided_choice, 'guided_choice')]);
  if (given(body.guided_grammar)) found.push(['guided_grammar', grammar(body.guided_grammar, 'guided_grammar')]);
  if (given(body.guided_regex)) found.push(['guided_regex', regex(body.guided_regex, 'guided_regex')]);
  const so = structuredOutputs(body.structured_outputs);
  if (so !== null) found.push(['structured_outputs', so]);
  // llama.cpp reads an empty grammar as none (its clients send "" by default).
  if (given(body.grammar) && body.grammar !== '') found.push(['grammar', grammar(body.grammar, 'grammar')]);
  if (given(body.json_schema)) found.push(['json_schema', jsonSchema(body.json_schema, 'json_schema')]);
  if (found.length > 1) {
    throw badRequest(`Only one of response_format, guided_json, guided_choice, guided_grammar, guided_regex, structured_outputs, grammar and json_schema may be given; got ${found.map(([f]) => f).join(', ')}.`, found[1][0]);
  }
  if (found.length === 0) return null;
  return { field: found[0][0], spec: found[0][1] };
}
