// What a request asks its output to be held to (grammar-guided decoding,
// src/guided/): OpenAI's response_format, and vLLM's fields for the same
// (guided_json / guided_choice / guided_grammar, and structured_outputs,
// which newer vLLM uses instead). At most one may be given. What is not
// served (regular expressions, structural tags) is a 400, not ignored.

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
  throw badRequest(`response_format ${JSON.stringify(type ?? null)} is not supported by this server; only "text", "json_object" or "json_schema" is.`, 'response_format');
}

/** A JSON Schema given as an object (or true/false), or as its JSON text (vLLM's guided_json takes both). */
function schemaText(v: unknown, field: string, what: string, textOk = false): string {
  if (textOk && typeof v === 'string') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw badRequest(`${what} is a string that is not JSON.`, field);
    }
    return schemaText(parsed, field, what);
  }
  if (!isRecord(v) && typeof v !== 'boolean') throw badRequest(`${what} must be a JSON Schema (an object).`, field);
  return JSON.stringify(v);
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

function regexRefused(field: string): never {
  throw badRequest(`${field} (a regular expression) is not supported by this server; json, choice and grammar are.`, field);
}

/** vLLM's structured_outputs object: one of json, json_object, choice, grammar. */
function structuredOutputs(so: unknown): GuideSpec | null {
  if (!given(so)) return null;
  const field = 'structured_outputs';
  if (!isRecord(so)) throw badRequest(`${field} must be an object with one of json, json_object, choice, grammar.`, field);
  const specs: GuideSpec[] = [];
  if (given(so.json)) specs.push({ kind: 'json_schema', schema: schemaText(so.json, field, `${field}.json`, true) });
  if (so.json_object === true) specs.push({ kind: 'json_object' });
  if (given(so.choice)) specs.push(choice(so.choice, `${field}.choice`));
  if (given(so.grammar)) specs.push(grammar(so.grammar, `${field}.grammar`));
  if (given(so.regex)) regexRefused(`${field}.regex`);
  for (const k of ['structural_tag', 'whitespace_pattern']) {
    if (given(so[k])) throw badRequest(`${field}.${k} is not supported by this server.`, field);
  }
  if (specs.length > 1) throw badRequest(`${field} takes one of json, json_object, choice, grammar; got ${specs.length}.`, field);
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
  if (given(body.guided_json)) found.push(['guided_json', { kind: 'json_schema', schema: schemaText(body.guided_json, 'guided_json', 'guided_json', true) }]);
  if (given(body.guided_choice)) found.push(['guided_choice', choice(body.guided_choice, 'guided_choice')]);
  if (given(body.guided_grammar)) found.push(['guided_grammar', grammar(body.guided_grammar, 'guided_grammar')]);
  if (given(body.guided_regex)) regexRefused('guided_regex');
  const so = structuredOutputs(body.structured_outputs);
  if (so !== null) found.push(['structured_outputs', so]);
  if (found.length > 1) {
    throw badRequest(`Only one of response_format, guided_json, guided_choice, guided_grammar and structured_outputs may be given; got ${found.map(([f]) => f).join(', ')}.`, found[1][0]);
  }
  if (found.length === 0) return null;
  return { field: found[0][0], spec: found[0][1] };
}
