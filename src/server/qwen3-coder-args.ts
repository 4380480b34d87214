// qwen3_coder's argument values (tool-parsers-xml.ts): raw text between
// <parameter=NAME> and </parameter>, turned into JSON values by the tool's
// JSON-schema type for that parameter, as vLLM's qwen3coder parser does.
import { isRecord } from '../is-record.js';
import { PythonCalls } from './python-calls.js';
import { parseJson } from './tool-call.js';

const STRING_TYPES = ['string', 'str', 'text', 'varchar', 'char', 'enum'];

/**
 * A raw value as the parameter's JSON-schema type has it, vLLM's
 * _convert_param_value rule for rule: a parameter the tool does not list,
 * or one without a type, stays a string; the type is the schema's "type"
 * (or anyOf's first that is not "null"); null/None is null where the
 * schema allows null, and for every type but a string one; integers and
 * numbers parse (a number with no fraction is an integer) or stay the
 * string; a boolean is true for "true" (any case), else false; an object
 * or array is JSON, else a Python literal, else the string, and any other
 * type (a list of types among them, whose Python text names none) a
 * Python literal or the string.
 */
export function typedArgument(value: string, schema: unknown): unknown {
  if (schema === undefined) return value;
  let type = 'string';
  let nullable = false;
  if (isRecord(schema) && 'type' in schema) {
    type = typeName(schema.type);
    nullable = type === 'null';
  } else if (isRecord(schema) && Array.isArray(schema.anyOf)) {
    let picked = false;
    for (const option of schema.anyOf as unknown[]) {
      if (!isRecord(option) || !('type' in option)) continue;
      const t = typeName(option.type);
      if (t === 'null') nullable = true;
      else if (!picked) {
        type = t;
        picked = true;
      }
    }
  }
  const lower = value.toLowerCase();
  const isNull = lower === 'null' || lower === 'none';
  if (nullable && isNull) return null;
  if (STRING_TYPES.includes(type)) return value;
  if (isNull) return null;
  if (/^(?:int|uint|long|short|unsigned)/.test(type)) return /^[+-]?\d+(?:_\d+)*$/.test(value.trim()) ? Number(value.trim().replace(/_/g, '')) : value;
  if (/^(?:num|float)/.test(type)) {
    const n = /^[+-]?(?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+(?:_\d+)*)?$/.test(value.trim()) ? Number(value.trim().replace(/_/g, '')) : NaN;
    // Infinity and NaN have no JSON: the string (vLLM too keeps "nan"; "inf" fails its whole output).
    return Number.isFinite(n) ? n : value;
  }
  if (type === 'boolean' || type === 'bool' || type === 'binary') return lower === 'true';
  const container = type === 'object' || type === 'array' || type === 'arr' || type.startsWith('dict') || type.startsWith('list');
  if (container) {
    const parsed = parseJson(value);
    // JSON text of a Python repr ("{'k': 'v'}", from a template that wrote str(dict)) is read once more.
    if (parsed !== undefined) return typeof parsed === 'string' ? literalOr(parsed) : parsed;
  }
  const lit = PythonCalls.literal(value);
  if (lit === null) return value;
  return container && typeof lit.value === 'string' ? literalOr(lit.value) : lit.value;
}

/** A schema's "type" as vLLM compares it: its Python text, trimmed and lower-cased (a list's text names no type). */
function typeName(t: unknown): string {
  return (typeof t === 'string' ? t : JSON.stringify(t)).trim().toLowerCase();
}

/** `text` as a Python literal, or itself. */
function literalOr(text: string): unknown {
  const lit = PythonCalls.literal(text);
  return lit === null ? text : lit.value;
}
