// Where the cache lives and how names map to paths, following huggingface_hub
// (constants.py, file_download.repo_folder_name) so caches are shared with
// vLLM and transformers. Every name that reaches a path — typed by a user or
// sent by the hub — passes one of the validators below first.

import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CatalogError } from './errors.js';

/** huggingface_hub's HF_HOME: HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return resolve(env.HF_HOME ? expandHome(env.HF_HOME) : join(xdg, 'huggingface'));
}

/** The hub cache directory: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const hub = env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE;
  if (hub) return resolve(expandHome(hub));
  return join(hfHome(env), 'hub');
}

/** Where `huggingface-cli login` (`hf auth login`) keeps the token: HF_TOKEN_PATH, else HF_HOME/token. */
export function tokenPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_TOKEN_PATH ? resolve(expandHome(env.HF_TOKEN_PATH)) : join(hfHome(env), 'token');
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

/** hipserve's own bookkeeping beside the HF layout (index, locks, in-use markers). */
export function hipserveDir(root: string): string {
  return join(root, '.hipserve');
}

/** `org/name` -> `models--org--name`, as huggingface_hub names repo folders. */
export function repoFolderName(repoId: string): string {
  return ['models', ...repoId.split('/')].join('--');
}

/** The inverse of repoFolderName, or null for folders that are not model repos. */
export function repoIdFromFolder(folder: string): string | null {
  if (!folder.startsWith('models--')) return null;
  const id = folder.slice('models--'.length).split('--').join('/');
  try {
    validateRepoId(id);
  } catch {
    return null;
  }
  return id;
}

const REPO_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;

/**
 * Hub ids as huggingface_hub's validate_repo_id accepts them (`name` or
 * `org/name`, word characters, `.` and `-`, no `--` or `..`), which also makes
 * the folder name unambiguous and free of separators.
 */
export function validateRepoId(id: string): void {
  const parts = id.split('/');
  if (parts.length > 2) throw new CatalogError('HIPSERVE_ERR_CATALOG_INVALID_ID', JSON.stringify(id), 'expected org/name');
  for (const part of parts) {
    if (!REPO_PART.test(part)) {
      throw new CatalogError('HIPSERVE_ERR_CATALOG_INVALID_ID', JSON.stringify(id), 'only letters, digits, ".", "_" and "-" are allowed, not at either end');
    }
    if (part.includes('--') || part.includes('..')) {
      throw new CatalogError('HIPSERVE_ERR_CATALOG_INVALID_ID', JSON.stringify(id), '"--" and ".." are not allowed');
    }
  }
}

export const COMMIT_RE = /^[0-9a-f]{40}$/;

/** Branches, tags and `refs/pr/N`: they become paths under refs/, so no traversal. */
export function validateRevision(rev: string): void {
  const bad = (why: string): never => {
    throw new CatalogError('HIPSERVE_ERR_CATALOG_INVALID_REVISION', JSON.stringify(rev), why);
  };
  if (rev.length === 0 || rev.length > 256) bad('empty or too long');
  if (!/^[A-Za-z0-9._/-]+$/.test(rev)) bad('only letters, digits, ".", "_", "-" and "/" are allowed');
  if (rev.startsWith('/') || rev.startsWith('-')) bad('must not start with "/" or "-"');
  for (const seg of rev.split('/')) {
    if (seg === '' || seg === '.' || seg === '..' || seg.endsWith('.lock')) bad('bad path segment');
  }
}

/**
 * A file name inside a repo (from the hub's listing or `org/repo:file.gguf`):
 * relative POSIX path, no `..`, no backslashes, no control characters.
 */
export function validateRepoFilename(name: string): void {
  const bad = (why: string): never => {
    throw new CatalogError('HIPSERVE_ERR_CATALOG_INVALID_FILENAME', JSON.stringify(name), why);
  };
  if (name.length === 0 || name.length > 1024) bad('empty or too long');
  if (name.includes('\\')) bad('backslashes are not allowed');
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) bad('control characters are not allowed');
  if (name.startsWith('/') || isAbsolute(name) || /^[A-Za-z]:/.test(name)) bad('absolute paths are not allowed');
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') bad('"." , ".." and empty segments are not allowed');
  }
}

/** join(base, ...parts) that throws unless the result stays strictly inside base. */
export function safeJoin(base: string, ...parts: string[]): string {
  const full = resolve(base, ...parts);
  if (!isInside(base, full)) throw new CatalogError('HIPSERVE_ERR_CATALOG_UNSAFE_PATH', parts.join('/'), base);
  return full;
}

/** Whether `p` is `base` itself or below it (lexically; callers realpath first when links matter). */
export function isInside(base: string, p: string): boolean {
  const rel = relative(resolve(base), resolve(p));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..'));
}

/** Paths of one repo folder. */
export interface RepoPaths {
  root: string;
  repo: string;
  blobs: string;
  snapshots: string;
  refs: string;
}

export function repoPaths(root: string, repoId: string): RepoPaths {
  validateRepoId(repoId);
  const repo = safeJoin(root, repoFolderName(repoId));
  return { root, repo, blobs: join(repo, 'blobs'), snapshots: join(repo, 'snapshots'), refs: join(repo, 'refs') };
}
