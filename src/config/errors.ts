// Configuration mistakes: one line each, naming the key, what is valid, and
// where it came from (flag, environment variable, or file:line).

export class ConfigError extends Error {
  readonly code = 'HIPSERVE_ERR_CONFIG';
  /** The process exit code the CLI uses for a usage error. */
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Where a raw value came from, so the message can point at it. */
export type Source =
  | { kind: 'flag' }
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string; line: number | null }
  | { kind: 'default' };

export function where(source: Source, name: string): string {
  switch (source.kind) {
    case 'flag':
      return `--${name}`;
    case 'env':
      return source.name;
    case 'file':
      return `${source.path}${source.line === null ? '' : `:${source.line}`}: ${name}`;
    case 'default':
      return name;
  }
}
