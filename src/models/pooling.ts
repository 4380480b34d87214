// How embeddings pool a prompt's final hidden states (/v1/embeddings,
// llama.cpp's /embedding): --pooling (llama.cpp's flag) or vLLM's
// --pooler-config '{"pooling_type": "MEAN", "normalize": false}', else the
// model's own choice ('auto'), as vLLM and llama.cpp read it:
//   - a sentence-transformers directory: modules.json names its Pooling
//     module, whose config.json sets one pooling_mode_* (Qwen3-Embedding's
//     1_Pooling/config.json: pooling_mode_lasttoken);
//   - a GGUF file: `<arch>.pooling_type`, llama.cpp's enum;
//   - else 'last', vLLM's default for a causal LM.
// A mode this server cannot pool (max, weighted mean, llama.cpp's rank)
// falls back to 'last' with a warning: the model still serves text.
// llama.cpp's none (a GGUF's pooling_type 0, or --pooling none) is served:
// every token's state, on llama.cpp's /embedding only.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PoolingOption } from '../config/options.js';
import type { PoolingType } from '../engine/types.js';
import { isRecord } from '../is-record.js';

/** vLLM's --pooler-config, the fields served here; null: not given. */
export interface PoolerConfig {
  poolingType: PoolingType | null;
  /** The default of a request's `normalize` (L2) on /v1/embeddings. */
  normalize: boolean | null;
}

export interface ResolvedPooling {
  pooling: PoolingType;
  /** Where it came from, for the start-up log. */
  source: string;
  /** The model asked for a pooling this server does not serve. */
  warning: string | null;
}

/** llama.cpp's enum llama_pooling_type: 0 none, 1 mean, 2 cls, 3 last, 4 rank. */
const GGUF_POOLING: Readonly<Record<number, string>> = { 0: 'none', 1: 'mean', 2: 'cls', 3: 'last', 4: 'rank' };

/** sentence-transformers' Pooling config keys, in the order vLLM checks them. */
const ST_MODES: readonly (readonly [string, PoolingType | null])[] = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_max_tokens', null],
  ['pooling_mode_mean_sqrt_len_tokens', null],
  ['pooling_mode_weightedmean_tokens', null],
  ['pooling_mode_lasttoken', 'last'],
];

const SERVED = new Set<string>(['last', 'mean', 'cls', 'none']);
/** What vLLM's --pooler-config may name (its pooling types; llama.cpp's none is --pooling's). */
const POOLER_TYPES = new Set<string>(['last', 'mean', 'cls']);

/** Parses --pooler-config (JSON text); an error names the flag and the key. */
export function parsePoolerConfig(text: string | null): PoolerConfig {
  if (text === null) return { poolingType: null, normalize: null };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`--pooler-config: not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isRecord(v)) throw new Error('--pooler-config: must be a JSON object, e.g. {"pooling_type": "MEAN", "normalize": true}');
  const out: PoolerConfig = { poolingType: null, normalize: null };
  for (const [key, value] of Object.entries(v)) {
    if (key === 'pooling_type') {
      const name = typeof value === 'string' ? value.toLowerCase() : '';
      if (!POOLER_TYPES.has(name)) throw new Error(`--pooler-config: pooling_type must be one of LAST, MEAN, CLS, got ${JSON.stringify(value)}`);
      out.poolingType = name as PoolingType;
    } else if (key === 'normalize') {
      if (typeof value !== 'boolean') throw new Error(`--pooler-config: normalize must be true or false, got ${JSON.stringify(value)}`);
      out.normalize = value;
    } else {
      throw new Error(`--pooler-config: unknown key ${JSON.stringify(key)} (served: pooling_type, normalize)`);
    }
  }
  return out;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot be read as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A pooling the model named (or null when it names none) and its source. */
interface ModelPooling {
  name: string;
  source: string;
}

/** The Pooling module of a sentence-transformers directory: its mode, or null when it has none. */
function sentenceTransformersPooling(dir: string): ModelPooling | null {
  const modulesFile = join(dir, 'modules.json');
  if (!existsSync(modulesFile)) return null;
  const modules = readJson(modulesFile);
  if (!Array.isArray(modules)) throw new Error(`${modulesFile}: must hold a list of modules`);
  const pooling = modules.find((m): m is Record<string, unknown> => isRecord(m) && m.type === 'sentence_transformers.models.Pooling');
  if (pooling === undefined || typeof pooling.path !== 'string') return null;
  const configFile = join(dir, pooling.path, 'config.json');
  if (!existsSync(configFile)) return null;
  const config = readJson(configFile);
  if (!isRecord(config)) throw new Error(`${configFile}: must hold a JSON object`);
  const hit = ST_MODES.find(([key]) => config[key] === true);
  return hit === undefined ? null : { name: hit[1] ?? hit[0].replace(/^pooling_mode_/, ''), source: `${configFile} (${hit[0]})` };
}

/** `<arch>.pooling_type` of a GGUF file's metadata, or null when it has none. */
function ggufPooling(path: string, metadata: Readonly<Record<string, unknown>>): ModelPooling | null {
  const arch = metadata['general.architecture'];
  if (typeof arch !== 'string') return null;
  const key = `${arch}.pooling_type`;
  const raw = metadata[key];
  const code = typeof raw === 'bigint' ? Number(raw) : raw;
  if (typeof code !== 'number') return null;
  return { name: GGUF_POOLING[code] ?? `unknown (${code})`, source: `${path} (${key} = ${code})` };
}

/**
 * Whether the model's embeddings may be cut to fewer `dimensions` (vLLM's
 * matryoshka check, from config.json): `true` for any width
 * (`is_matryoshka`), the list of widths it was trained for
 * (`matryoshka_dimensions`), or null (a GGUF file, or neither key).
 */
export function readMatryoshka(modelPath: string): true | number[] | null {
  const file = join(modelPath, 'config.json');
  if (!existsSync(modelPath) || !statSync(modelPath).isDirectory() || !existsSync(file)) return null;
  const config = readJson(file);
  if (!isRecord(config)) return null;
  const dims = config.matryoshka_dimensions;
  if (dims !== undefined && dims !== null) {
    if (!Array.isArray(dims) || dims.length === 0 || !dims.every((d) => Number.isInteger(d) && (d as number) > 0)) {
      throw new Error(`${file}: matryoshka_dimensions must be a list of positive integers`);
    }
    return dims as number[];
  }
  return config.is_matryoshka === true ? true : null;
}

/** What the model at `modelPath` asks for; `ggufMetadata` reads a GGUF file's metadata. */
function modelPooling(modelPath: string, ggufMetadata: (path: string) => Readonly<Record<string, unknown>>): ModelPooling | null {
  if (!existsSync(modelPath)) return null;
  if (statSync(modelPath).isDirectory()) return sentenceTransformersPooling(modelPath);
  return modelPath.toLowerCase().endsWith('.gguf') ? ggufPooling(modelPath, ggufMetadata(modelPath)) : null;
}

/**
 * The pooling to serve: `option` (--pooling) unless 'auto', else
 * --pooler-config's pooling_type, else the model's, else 'last'. Both flags
 * naming different poolings is an error.
 */
export function resolvePooling(
  option: PoolingOption,
  pooler: PoolerConfig,
  modelPath: string,
  ggufMetadata: (path: string) => Readonly<Record<string, unknown>>,
): ResolvedPooling {
  if (option !== 'auto' && pooler.poolingType !== null && pooler.poolingType !== option) {
    throw new Error(`--pooling ${option} and --pooler-config's pooling_type ${pooler.poolingType.toUpperCase()} disagree; give one`);
  }
  if (option !== 'auto') return { pooling: option, source: '--pooling', warning: null };
  if (pooler.poolingType !== null) return { pooling: pooler.poolingType, source: '--pooler-config', warning: null };
  const asked = modelPooling(modelPath, ggufMetadata);
  if (asked === null) return { pooling: 'last', source: 'default (a causal LM: the last token, as vLLM)', warning: null };
  if (SERVED.has(asked.name)) return { pooling: asked.name as PoolingType, source: asked.source, warning: null };
  return {
    pooling: 'last',
    source: 'default',
    warning: `the model asks for ${asked.name} pooling (${asked.source}), which this server does not serve; embeddings pool the last token (--pooling to choose another)`,
  };
}
