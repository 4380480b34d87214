// The model's own sampling defaults, as vLLM's --generation-config takes
// them: `auto` reads the model directory's generation_config.json, `vllm`
// reads nothing (the server's neutral defaults), anything else is a
// directory holding one (or the file). Only repetition_penalty,
// temperature, top_k, top_p, min_p and max_new_tokens are used, and only
// where they differ from Hugging Face's own defaults (vLLM reads the
// file's diff from them: a top_k of 50, Transformers' default, is not a
// recommendation); --override-generation-config (a JSON object) goes on
// top. A request's own values always win.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SamplingDefaults } from '../engine/types.js';

/** Transformers' GenerationConfig defaults: a value equal to one is no recommendation. */
const HF_DEFAULTS: Readonly<Record<string, number>> = { temperature: 1, top_p: 1, top_k: 50, repetition_penalty: 1 };

interface Field {
  key: keyof SamplingDefaults;
  ok: (v: number) => boolean;
  valid: string;
}

const FIELDS: Readonly<Record<string, Field>> = {
  temperature: { key: 'temperature', ok: (v) => v >= 0 && v <= 100, valid: 'a number in [0, 100]' },
  top_p: { key: 'topP', ok: (v) => v > 0 && v <= 1, valid: 'a number in (0, 1]' },
  top_k: { key: 'topK', ok: (v) => Number.isInteger(v) && v >= -1, valid: 'an integer >= -1 (-1 and 0: off)' },
  min_p: { key: 'minP', ok: (v) => v >= 0 && v <= 1, valid: 'a number in [0, 1]' },
  repetition_penalty: { key: 'repetitionPenalty', ok: (v) => v > 0 && v <= 2, valid: 'a number in (0, 2]' },
  max_new_tokens: { key: 'maxTokens', ok: (v) => Number.isInteger(v) && v >= 1, valid: 'an integer >= 1' },
};

function readObject(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot be read as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${file}: must hold a JSON object`);
  return value as Record<string, unknown>;
}

/** The generation_config.json --generation-config names for a model at `modelPath`, or null (none to read). */
function configFile(modelPath: string, mode: string): string | null {
  if (mode === 'vllm') return null;
  if (mode === 'auto') {
    // A GGUF file carries no generation_config.json.
    const file = join(modelPath, 'generation_config.json');
    return existsSync(modelPath) && statSync(modelPath).isDirectory() && existsSync(file) ? file : null;
  }
  if (!existsSync(mode)) throw new Error(`--generation-config ${mode}: no such file or directory (auto, vllm, or a directory holding generation_config.json)`);
  const file = statSync(mode).isDirectory() ? join(mode, 'generation_config.json') : mode;
  if (!existsSync(file)) throw new Error(`--generation-config ${mode}: holds no generation_config.json`);
  return file;
}

/**
 * The defaults for `modelPath` under --generation-config `mode` and
 * --override-generation-config `override` (JSON text or null); an error
 * names the file (or the flag) and the key.
 */
export function samplingDefaults(modelPath: string, mode: string, override: string | null): { defaults: SamplingDefaults; source: string | null } {
  const file = configFile(modelPath, mode);
  const out: SamplingDefaults = {};
  const take = (values: Record<string, unknown>, where: string, diffOnly: boolean): void => {
    for (const [name, f] of Object.entries(FIELDS)) {
      const v = values[name];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || !f.ok(v)) throw new Error(`${where}: ${name} must be ${f.valid}, got ${JSON.stringify(v)}`);
      if (diffOnly && HF_DEFAULTS[name] === v) continue;
      out[f.key] = v;
    }
  };
  if (file !== null) take(readObject(file), file, true);
  if (override !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(override);
    } catch (err) {
      throw new Error(`--override-generation-config: not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('--override-generation-config: must be a JSON object, e.g. {"temperature": 0.5}');
    take(parsed as Record<string, unknown>, '--override-generation-config', false);
  }
  return { defaults: out, source: file };
}
