// The few Hugging Face Hub endpoints a pull needs, as huggingface_hub uses them:
//   GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true
//       -> { sha, siblings: [{ rfilename, size, blobId, lfs?: { sha256, size } }] }
//   GET {endpoint}/{repo}/resolve/{commit}/{path}
//       -> the bytes (LFS files: a 302 to a CDN; X-Repo-Commit, X-Linked-Etag, ETag)
// Everything the hub sends is treated as untrusted input and validated.

import { readFileSync } from 'node:fs';
import { CatalogError } from './errors.js';
import { COMMIT_RE, tokenPath, validateRepoFilename } from './paths.js';
import { DEFAULT_RETRY, TransientError, parseRetryAfter, withRetry, type RetryInfo, type RetryPolicy } from './retry.js';

export interface HubConfig {
  endpoint: string;
  token: string | undefined;
  /** Where the token came from (an environment variable's name or the token file's path), for error messages. */
  tokenSource?: string;
  /** The variable that keeps any token from being sent (HF_HUB_DISABLE_IMPLICIT_TOKEN), for error messages. */
  tokenWithheldBy?: string;
  retry: RetryPolicy;
  /** Abort a response body that delivers nothing for this long (then retried). */
  idleTimeoutMs: number;
}

function envInt(v: string | undefined, fallback: number): number {
  const n = v === undefined ? NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** A boolean variable as huggingface_hub reads one: 1, on, yes, true (any case). */
function envFlag(v: string | undefined): boolean {
  return ['1', 'on', 'yes', 'true'].includes((v ?? '').trim().toLowerCase());
}

export function isOfflineEnv(env: NodeJS.ProcessEnv): boolean {
  return envFlag(env.HF_HUB_OFFLINE);
}

/** A token as huggingface_hub cleans one: surrounding whitespace and line breaks dropped, empty = none. */
function cleanToken(v: string | undefined): string | undefined {
  const t = v?.replace(/[\r\n]/g, '').trim();
  return t ? t : undefined;
}

/**
 * The token huggingface_hub would use: HF_TOKEN, else HUGGING_FACE_HUB_TOKEN,
 * else the file `huggingface-cli login` writes (HF_TOKEN_PATH, else
 * HF_HOME/token). A missing file means no token; an unreadable one is an
 * error naming it (a token the user set up must not be dropped silently).
 */
export function hubToken(env: NodeJS.ProcessEnv = process.env): { token: string; source: string } | undefined {
  for (const name of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN']) {
    const t = cleanToken(env[name]);
    if (t) return { token: t, source: name };
  }
  const path = tokenPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CatalogError('HIPSERVE_ERR_CATALOG_HUB_AUTH', `cannot read the hub token file ${path}: ${(e as Error).message}`);
  }
  const t = cleanToken(text);
  return t ? { token: t, source: path } : undefined;
}

export function hubConfigFromEnv(env: NodeJS.ProcessEnv = process.env): HubConfig {
  const endpoint = (env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  // As huggingface_hub: with HF_HUB_DISABLE_IMPLICIT_TOKEN set, a token goes
  // only where one is passed explicitly, and hipserve passes none (neither
  // HF_TOKEN nor the login file is sent, and the file is not read).
  const withheld = envFlag(env.HF_HUB_DISABLE_IMPLICIT_TOKEN);
  const tok = withheld ? undefined : hubToken(env);
  return {
    endpoint,
    token: tok?.token,
    tokenSource: tok?.source,
    tokenWithheldBy: withheld ? 'HF_HUB_DISABLE_IMPLICIT_TOKEN' : undefined,
    retry: {
      ...DEFAULT_RETRY,
      retries: envInt(env.HIPSERVE_HUB_RETRIES, DEFAULT_RETRY.retries),
      baseMs: envInt(env.HIPSERVE_HUB_BACKOFF_MS, DEFAULT_RETRY.baseMs),
    },
    idleTimeoutMs: envInt(env.HIPSERVE_HUB_IDLE_TIMEOUT_MS, 60_000),
  };
}

export function authHeaders(cfg: HubConfig): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': 'hipserve/0.1' };
  if (cfg.token) h.authorization = `Bearer ${cfg.token}`;
  return h;
}

/** Path-encode each segment of a repo id or file path (slashes kept). */
export function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

function hubMessage(res: Response): string {
  const m = res.headers.get('x-error-message');
  // eslint-disable-next-line no-control-regex -- strip control characters from text we echo to a terminal
  return m ? `: ${m.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 200)}` : '';
}

/**
 * Turn a failed hub response into an error: transient ones (5xx, 429) become
 * TransientError for the retry loop, the rest a CatalogError a user can act on.
 */
export function hubError(res: Response, cfg: HubConfig, what: { repo: string; revision?: string; file?: string }): Error {
  const code = res.headers.get('x-error-code') ?? '';
  const st = res.status;
  if (st === 429 || st >= 500) {
    return new TransientError(`HTTP ${st} from ${cfg.endpoint}`, st === 429 ? parseRetryAfter(res.headers.get('retry-after')) : undefined);
  }
  const page = `${cfg.endpoint}/${what.repo}`;
  if (st === 401) {
    if (code === 'GatedRepo') {
      const how = cfg.tokenWithheldBy
        ? `unset ${cfg.tokenWithheldBy} (with it set no token is sent)`
        : 'set HF_TOKEN (or run huggingface-cli login) with a token of that account';
      return new CatalogError('HIPSERVE_ERR_CATALOG_HUB_GATED', `${what.repo} is gated (HTTP 401): log in at ${page}, accept its terms, and ${how}${hubMessage(res)}`);
    }
    return new CatalogError('HIPSERVE_ERR_CATALOG_HUB_AUTH', cfg.token
      ? `${what.repo}: the hub refused the token from ${cfg.tokenSource ?? 'HF_TOKEN'} (HTTP 401)${hubMessage(res)}`
      : cfg.tokenWithheldBy
        ? `${what.repo}: not found or needs authentication (HTTP 401); no token was sent because ${cfg.tokenWithheldBy} is set${hubMessage(res)}`
        : `${what.repo}: not found or needs authentication (HTTP 401); if it is private or gated, set HF_TOKEN or run huggingface-cli login${hubMessage(res)}`);
  }
  if (st === 403) {
    return new CatalogError('HIPSERVE_ERR_CATALOG_HUB_GATED', `access to ${what.repo} is restricted (HTTP 403): accept its terms at ${page} with the account whose token is in ${cfg.tokenSource ?? 'HF_TOKEN'}${hubMessage(res)}`);
  }
  if (st === 404) {
    if (code === 'RevisionNotFound') return new CatalogError('HIPSERVE_ERR_CATALOG_HUB_NOT_FOUND', `revision ${what.revision ?? '?'} not found in ${what.repo} (HTTP 404)`);
    if (code === 'EntryNotFound' || what.file) return new CatalogError('HIPSERVE_ERR_CATALOG_HUB_NOT_FOUND', `${what.file ?? 'file'} not found in ${what.repo}@${what.revision ?? '?'} (HTTP 404)`);
    return new CatalogError('HIPSERVE_ERR_CATALOG_HUB_NOT_FOUND', `model ${what.repo} not found on ${cfg.endpoint} (HTTP 404)`);
  }
  return new CatalogError('HIPSERVE_ERR_CATALOG_HUB_HTTP', `${what.repo}: HTTP ${st} from ${cfg.endpoint}${hubMessage(res)}`);
}

export interface HubFile {
  path: string;
  size: number;
  /** Git blob sha1 of the file (for LFS files: of the pointer). */
  blobId: string;
  /** SHA-256 of the content for LFS files. */
  sha256: string | undefined;
}

export interface HubRevision {
  repo: string;
  commit: string;
  files: HubFile[];
}

/** The blob name huggingface_hub uses: the LFS sha256, else the git blob sha1. */
export function blobName(f: HubFile): string {
  return f.sha256 ?? f.blobId;
}

function bad(repo: string, why: string): CatalogError {
  return new CatalogError('HIPSERVE_ERR_CATALOG_HUB_BAD_RESPONSE', repo, why);
}

/** Validate the revision API's JSON; file names from the hub are checked like user input. */
export function parseRevisionInfo(repo: string, body: unknown): HubRevision {
  if (typeof body !== 'object' || body === null) throw bad(repo, 'not a JSON object');
  const b = body as { sha?: unknown; siblings?: unknown };
  if (typeof b.sha !== 'string' || !COMMIT_RE.test(b.sha)) throw bad(repo, 'missing or malformed commit sha');
  if (!Array.isArray(b.siblings)) throw bad(repo, 'missing siblings (file list)');
  const files: HubFile[] = [];
  for (const s of b.siblings) {
    if (typeof s !== 'object' || s === null) throw bad(repo, 'malformed sibling');
    const f = s as { rfilename?: unknown; size?: unknown; blobId?: unknown; lfs?: unknown };
    if (typeof f.rfilename !== 'string') throw bad(repo, 'sibling without rfilename');
    validateRepoFilename(f.rfilename);
    if (typeof f.blobId !== 'string' || !/^[0-9a-f]{40}$/.test(f.blobId)) throw bad(repo, `no blobId for ${f.rfilename}`);
    let sha256: string | undefined;
    let size = typeof f.size === 'number' ? f.size : NaN;
    if (f.lfs !== undefined && f.lfs !== null) {
      const l = f.lfs as { sha256?: unknown; size?: unknown };
      if (typeof l.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(l.sha256)) throw bad(repo, `bad lfs.sha256 for ${f.rfilename}`);
      sha256 = l.sha256;
      if (typeof l.size === 'number') size = l.size;
    }
    if (!Number.isSafeInteger(size) || size < 0) throw bad(repo, `no size for ${f.rfilename}`);
    files.push({ path: f.rfilename, size, blobId: f.blobId, sha256 });
  }
  return { repo, commit: b.sha, files };
}

export async function fetchRevision(cfg: HubConfig, repo: string, revision: string, onRetry?: (i: RetryInfo) => void): Promise<HubRevision> {
  const url = `${cfg.endpoint}/api/models/${encodePath(repo)}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const body = await withRetry(cfg.retry, async () => {
    const res = await fetch(url, { headers: authHeaders(cfg), signal: AbortSignal.timeout(Math.max(cfg.idleTimeoutMs, 1000)) });
    if (!res.ok) {
      await res.body?.cancel();
      throw hubError(res, cfg, { repo, revision });
    }
    return await res.json();
  }, onRetry);
  return parseRevisionInfo(repo, body);
}
