// OpenAI fields this server cannot honour. Accepting them silently would
// hand back something other than what was asked for (text instead of a tool
// call), so each is a 400 naming the field. Their neutral values (null, [],
// "none") are accepted, as clients often send them by default. Also
// response_format, which is honoured (grammar-guided decoding, src/guided/)
// for "json_object" and "json_schema".

import type { GuideSpec } from '../engine/types.js';
import { badRequest } from './errors.js';

export interface MaybeUnsupported {
  response_format?: unknown;
  tools?: unknown;
  tool_choice?: unknown;
  functions?: unknown;
  function_call?: unknown;
}

function unsupported(field: string, what: string, only?: string): never {
  throw badRequest(`${what} is not supported by this server${only === undefined ? '' : `; only ${only} is`}.`, field);
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

/** A JSON value as the client sent it. */
const shown = (v: unknown): string => JSON.stringify(v);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * OpenAI's response_format: "text" (or none) leaves the output free;
 * "json_object" holds it to a JSON object; "json_schema" to
 * json_schema.schema (a JSON Schema; properties it does not name are not
 * generated, as OpenAI's strict mode). Anything else is a 400.
 */
export function responseFormat(body: MaybeUnsupported): GuideSpec | null {
  const rf = body.response_format;
  if (rf === undefined || rf === null) return null;
  const type = isObject(rf) ? rf.type : rf;
  if (type === 'text') return null;
  if (type === 'json_object') return { kind: 'json_object' };
  if (type === 'json_schema') {
    const js = isObject(rf) ? rf.json_schema : undefined;
    if (!isObject(js)) throw badRequest('response_format json_schema needs a json_schema object with the schema in its "schema" field.', 'response_format');
    const schema = js.schema;
    if (!isObject(schema) && typeof schema !== 'boolean') {
      throw badRequest('response_format json_schema.schema must be a JSON Schema (an object).', 'response_format');
    }
    return { kind: 'json_schema', schema: JSON.stringify(schema) };
  }
  return unsupported('response_format', `response_format ${shown(type ?? null)}`, '"text", "json_object" or "json_schema"');
}

export function rejectUnsupported(body: MaybeUnsupported): void {
  if (!isEmpty(body.tools)) unsupported('tools', 'Tool calling (tools)');
  const tc = body.tool_choice;
  if (tc !== undefined && tc !== null && tc !== 'none') unsupported('tool_choice', `tool_choice ${shown(tc)}`, '"none"');
  if (!isEmpty(body.functions)) unsupported('functions', 'Function calling (functions)');
  const fc = body.function_call;
  if (fc !== undefined && fc !== null && fc !== 'none') unsupported('function_call', `function_call ${shown(fc)}`, '"none"');
}
