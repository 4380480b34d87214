// The YAML config file (--config): same keys as the flags. Parsed with
// `yaml`'s document API so every error can name the line it is on.

import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { ConfigError } from './errors.js';

export interface FileEntry {
  key: string;
  value: unknown;
  line: number | null;
}

export function readConfigFile(path: string): FileEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`cannot read config file ${path} (${code})`);
  }
  return parseConfigText(text, path);
}

export function parseConfigText(text: string, path: string): FileEntry[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const firstError = doc.errors[0] as (typeof doc.errors)[number] | undefined;
  if (firstError !== undefined) {
    const line = lc.linePos(firstError.pos[0]).line;
    throw new ConfigError(`${path}:${line}: invalid YAML: ${firstError.message.split('\n')[0]}`);
  }
  if (doc.contents === null) return [];
  if (!isMap(doc.contents)) throw new ConfigError(`${path}:1: the config file must be a mapping of option names to values`);
  const out: FileEntry[] = [];
  for (const pair of doc.contents.items) {
    const keyNode = pair.key;
    // range is unset on nodes built by hand; parsed ones always carry it, but the typings say optional.
    const range = isScalar(keyNode) ? (keyNode.range as [number, number, number] | undefined) : undefined;
    const offset = range === undefined ? null : range[0];
    const line = offset === null ? null : lc.linePos(offset).line;
    const key: unknown = isScalar(keyNode) ? keyNode.value : keyNode;
    if (typeof key !== 'string') throw new ConfigError(`${path}${line === null ? '' : `:${line}`}: keys must be option names`);
    const valueNode = pair.value;
    const value: unknown = valueNode === null ? null : (valueNode as { toJSON(): unknown }).toJSON();
    out.push({ key, value, line });
  }
  return out;
}
