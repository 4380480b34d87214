// `hipserve serve` flags: --name value, --name=value, --flag, --no-flag,
// repeated list flags, and vLLM's positional model (`serve MODEL`).

import { ConfigError } from './errors.js';
import { OPTION_BY_NAME, OPTIONS } from './options.js';
import { nearest } from './suggest.js';

export interface ParsedArgs {
  /** Raw flag values by option name (lists accumulate). */
  values: Map<string, string | string[]>;
  configPath: string | null;
  help: boolean;
}

/** vLLM accepts --max_num_seqs as well as --max-num-seqs; so do we, and camelCase in files. */
export function normalizeName(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
}

const EXTRA_FLAGS = ['config', 'help'];

export function unknownOption(flag: string): ConfigError {
  const names = [...OPTIONS.map((o) => o.name), ...OPTIONS.filter((o) => o.kind === 'bool').map((o) => `no-${o.name}`), ...EXTRA_FLAGS];
  const guess = nearest(flag, names);
  return new ConfigError(`unknown option --${flag}${guess === null ? '' : `; did you mean --${guess}?`}`);
}

export function parseServeArgs(argv: readonly string[]): ParsedArgs {
  const values = new Map<string, string | string[]>();
  let configPath: string | null = null;
  let help = false;
  const set = (name: string, v: string): void => {
    const spec = OPTION_BY_NAME.get(name);
    const prev = values.get(name);
    if (spec?.kind === 'list') values.set(name, [...(Array.isArray(prev) ? prev : []), v]);
    else values.set(name, v);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      if (arg === '-h') {
        help = true;
        continue;
      }
      if (arg.startsWith('-') || values.has('model')) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}`);
      values.set('model', arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = normalizeName(arg.slice(2, eq === -1 ? undefined : eq));
    const inline = eq === -1 ? null : arg.slice(eq + 1);
    if (name === 'help') {
      help = true;
      continue;
    }
    const takeValue = (): string => {
      if (inline !== null) return inline;
      const next = argv[i + 1] as string | undefined;
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new ConfigError(`option --${name} needs a value`);
      i++;
      return next;
    };
    if (name === 'config') {
      configPath = takeValue();
      continue;
    }
    const spec = OPTION_BY_NAME.get(name);
    if (spec === undefined && name.startsWith('no-')) {
      const base = OPTION_BY_NAME.get(name.slice(3));
      if (base?.kind === 'bool' && inline === null) {
        values.set(base.name, 'false');
        continue;
      }
    }
    if (spec === undefined) throw unknownOption(name);
    if (spec.kind === 'bool' && inline === null) {
      // `--offline false` as --help's "true or false" reads: a following
      // true/false word is the flag's value, not a model name.
      const next = argv[i + 1] as string | undefined;
      if (next !== undefined && /^(true|false)$/i.test(next)) {
        values.set(name, next.toLowerCase());
        i++;
        continue;
      }
      values.set(name, 'true');
      continue;
    }
    set(name, takeValue());
  }
  return { values, configPath, help };
}
