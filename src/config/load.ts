// Merges defaults < config file < HIPSERVE_* environment < flags into one
// validated ServeConfig.

import { parseServeArgs, normalizeName } from './argv.js';
import { coerce } from './coerce.js';
import { ConfigError } from './errors.js';
import { readConfigFile, type FileEntry } from './file.js';
import { defaultConfig, envName, OPTION_BY_NAME, OPTIONS, type ServeConfig } from './options.js';
import { nearest } from './suggest.js';

export interface LoadInput {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Injected in tests; defaults to reading the file from disk. */
  readFile?: (path: string) => FileEntry[];
}

export interface LoadResult {
  config: ServeConfig;
  help: boolean;
  configPath: string | null;
  /** Non-fatal findings to log at start-up (unknown HIPSERVE_* variables). */
  warnings: string[];
}

/**
 * HIPSERVE_* variables read outside the serve options: the native addon
 * (threads, SIMD level, weights, pool spin, HIP libraries), the model cache,
 * the CLI, the build script and the benches. test/config/config.test.ts
 * checks that every HIPSERVE_ name the sources read is here or an option.
 */
export const ENV_KNOBS: readonly string[] = [
  'HIPSERVE_ADDON', 'HIPSERVE_BENCH_SIMD', 'HIPSERVE_CACHE', 'HIPSERVE_CONFIG', 'HIPSERVE_DEBUG', 'HIPSERVE_DECODE_PREFETCH',
  'HIPSERVE_EMU_MEMORY', 'HIPSERVE_HIP_ARCHS', 'HIPSERVE_HIP_HALF_GEMM', 'HIPSERVE_HIP_JOBS', 'HIPSERVE_HIP_LIB',
  'HIPSERVE_HIP_OUT', 'HIPSERVE_HUB_BACKOFF_MS', 'HIPSERVE_HUB_IDLE_TIMEOUT_MS', 'HIPSERVE_HUB_RETRIES', 'HIPSERVE_SIMD',
  'HIPSERVE_SPIN_US', 'HIPSERVE_SYNC_STEP_MS', 'HIPSERVE_THREADS', 'HIPSERVE_WEIGHTS',
];

/** As vLLM warns of unknown VLLM_* variables: a misspelt one is otherwise silently ignored. */
function unknownEnvWarnings(env: NodeJS.ProcessEnv): string[] {
  const known = [...OPTIONS.map((o) => envName(o)), ...ENV_KNOBS];
  const set = new Set(known);
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('HIPSERVE_') || set.has(name)) continue;
    const guess = nearest(name, known);
    out.push(`unknown environment variable ${name} is ignored${guess === null ? '' : `; did you mean ${guess}?`}`);
  }
  return out;
}

function assign(config: ServeConfig, key: keyof ServeConfig, value: unknown): void {
  (config as unknown as Record<string, unknown>)[key] = value;
}

export function loadConfig(input: LoadInput): LoadResult {
  const args = parseServeArgs(input.argv);
  const config = defaultConfig();
  const configPath = args.configPath ?? input.env.HIPSERVE_CONFIG ?? null;

  if (configPath !== null) {
    const entries = (input.readFile ?? readConfigFile)(configPath);
    const names = OPTIONS.map((o) => o.name);
    for (const e of entries) {
      const name = normalizeName(e.key);
      const spec = OPTION_BY_NAME.get(name);
      const at = `${configPath}${e.line === null ? '' : `:${e.line}`}`;
      if (spec === undefined) {
        const guess = nearest(name, names);
        throw new ConfigError(`${at}: unknown key ${e.key}${guess === null ? '' : `; did you mean ${guess}?`}`);
      }
      assign(config, spec.key, coerce(spec, e.value, { kind: 'file', path: configPath, line: e.line }));
    }
  }

  for (const spec of OPTIONS) {
    const name = envName(spec);
    const raw = input.env[name];
    if (raw === undefined || raw === '') continue;
    assign(config, spec.key, coerce(spec, raw, { kind: 'env', name }));
  }

  for (const [name, raw] of args.values) {
    const spec = OPTION_BY_NAME.get(name);
    if (spec === undefined) continue; // parseServeArgs already rejected unknown names
    assign(config, spec.key, coerce(spec, raw, { kind: 'flag' }));
  }

  if (config.servedModelName.length === 0 && config.model !== null) config.servedModelName = [config.model];
  return { config, help: args.help, configPath, warnings: unknownEnvWarnings(input.env) };
}
