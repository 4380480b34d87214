// One table of catalog errors: a stable code, a message template and the CLI
// exit code (2 = the user typed something invalid, 1 = an operation failed).
// A test checks that every code is unique and carries the catalog prefix.

export const CATALOG_ERRORS = {
  HIPSERVE_ERR_CATALOG_USAGE: { exit: 2, template: '%s' },
  HIPSERVE_ERR_CATALOG_INVALID_ID: { exit: 2, template: 'invalid model id %s: %s' },
  HIPSERVE_ERR_CATALOG_INVALID_REVISION: { exit: 2, template: 'invalid revision %s: %s' },
  HIPSERVE_ERR_CATALOG_INVALID_FILENAME: { exit: 1, template: 'refusing file name %s: %s' },
  HIPSERVE_ERR_CATALOG_UNSAFE_PATH: { exit: 1, template: 'refusing %s: it resolves outside the cache root %s' },
  HIPSERVE_ERR_CATALOG_HUB_AUTH: { exit: 1, template: '%s' },
  HIPSERVE_ERR_CATALOG_HUB_GATED: { exit: 1, template: '%s' },
  HIPSERVE_ERR_CATALOG_HUB_NOT_FOUND: { exit: 1, template: '%s' },
  HIPSERVE_ERR_CATALOG_HUB_HTTP: { exit: 1, template: '%s' },
  HIPSERVE_ERR_CATALOG_HUB_BAD_RESPONSE: { exit: 1, template: 'unexpected answer from the hub for %s: %s' },
  HIPSERVE_ERR_CATALOG_NETWORK: { exit: 1, template: '%s' },
  HIPSERVE_ERR_CATALOG_HASH_MISMATCH: { exit: 1, template: '%s: hash mismatch, expected %s, got %s' },
  HIPSERVE_ERR_CATALOG_NOT_CACHED: { exit: 1, template: '%s' },
  HIPSERVE_ERR_CATALOG_NO_FILES: { exit: 1, template: '%s' },
  HIPSERVE_ERR_CATALOG_IN_USE: { exit: 1, template: '%s is in use by a running server (pid %s)' },
  HIPSERVE_ERR_CATALOG_BUSY: { exit: 1, template: '%s is being pulled by another process (pid %s); try again when it is done' },
  HIPSERVE_ERR_CATALOG_NOT_FOUND: { exit: 1, template: '%s' },
  HIPSERVE_ERR_CATALOG_PULL_FAILED: { exit: 1, template: '%s' },
} as const;

export type CatalogErrorCode = keyof typeof CATALOG_ERRORS;

export class CatalogError extends Error {
  readonly code: CatalogErrorCode;
  readonly exitCode: 1 | 2;

  constructor(code: CatalogErrorCode, ...args: (string | number)[]) {
    const entry = CATALOG_ERRORS[code];
    let i = 0;
    const message = entry.template.replace(/%s/g, () => String(args[i++] ?? ''));
    super(message);
    this.name = 'CatalogError';
    this.code = code;
    this.exitCode = entry.exit;
  }
}

export function isCatalogError(err: unknown): err is CatalogError {
  return err instanceof CatalogError;
}

/** The message of anything thrown, for one-line CLI output. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
