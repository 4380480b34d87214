// Turns a raw value (a flag's or env var's text, or a YAML scalar/list) into
// the typed value of one option, or a ConfigError saying what is valid.

import { ConfigError, type Source, where } from './errors.js';
import { describeValid, type OptionSpec } from './options.js';
import { parseSize } from './size.js';

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function show(raw: unknown): string {
  // JSON.stringify returns undefined for undefined and functions, whatever its typings say.
  const json = JSON.stringify(raw) as string | undefined;
  return json ?? String(raw);
}

function fail(spec: OptionSpec, source: Source, raw: unknown): never {
  throw new ConfigError(`${where(source, spec.name)} must be ${describeValid(spec)} (got ${show(raw)})`);
}

function inRange(spec: OptionSpec, n: number): boolean {
  if (spec.exclusiveMin !== undefined && !(n > spec.exclusiveMin)) return false;
  if (spec.min !== undefined && n < spec.min) return false;
  if (spec.max !== undefined && n > spec.max) return false;
  return true;
}

function toList(raw: unknown): string[] | null {
  if (typeof raw === 'string') {
    const t = raw.trim();
    // vLLM takes --allowed-origins as a JSON list; accept that as well as commas.
    if (t.startsWith('[')) {
      try {
        return toList(JSON.parse(t));
      } catch {
        return null;
      }
    }
    return t
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
  if (Array.isArray(raw)) {
    const out: string[] = [];
    for (const item of raw) {
      const sub = toList(item);
      if (sub === null) return null;
      out.push(...sub);
    }
    return out;
  }
  return null;
}

export function coerce(spec: OptionSpec, raw: unknown, source: Source): unknown {
  if (raw === null || (spec.nullable === true && typeof raw === 'string' && raw.trim().toLowerCase() === 'null')) {
    if (spec.nullable === true) return null;
    fail(spec, source, raw);
  }
  switch (spec.kind) {
    case 'int':
    case 'number': {
      let n: number;
      if (typeof raw === 'number') n = raw;
      else if (typeof raw === 'string' && raw.trim() !== '' && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(raw.trim())) n = Number(raw);
      else fail(spec, source, raw);
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isSafeInteger(n)) || !inRange(spec, n)) fail(spec, source, raw);
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string' && TRUE.has(raw.toLowerCase())) return true;
      if (typeof raw === 'string' && FALSE.has(raw.toLowerCase())) return false;
      return fail(spec, source, raw);
    }
    case 'size': {
      const n = typeof raw === 'string' || typeof raw === 'number' ? parseSize(raw) : null;
      if (n === null || !inRange(spec, n)) fail(spec, source, raw);
      return n;
    }
    case 'enum': {
      if (typeof raw === 'string' && (spec.values ?? []).includes(raw)) return raw;
      return fail(spec, source, raw);
    }
    case 'list': {
      const list = toList(raw);
      if (list === null) fail(spec, source, raw);
      return list;
    }
    case 'string': {
      if (typeof raw === 'string' && raw.length > 0) return raw;
      return fail(spec, source, raw);
    }
  }
}
