// One file from the hub into blobs/<hash>, huggingface_hub style: bytes go to
// blobs/<hash>.incomplete, an interrupted transfer resumes with a Range
// request from what is on disk, and the content hash is checked BEFORE the
// rename that makes the blob visible. A mismatch deletes the partial file.
//
// The hash is computed while streaming (the on-disk prefix is hashed once on
// resume), so a multi-GB shard is read from disk at most once more.

import type { Hash } from 'node:crypto';
import { open, rename, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CatalogError } from './errors.js';
import { createBlobHasher, fsyncDir, hashPrefix, FILE_MODE, type HashKind } from './fs-safe.js';
import { authHeaders, blobName, encodePath, hubError, type HubConfig, type HubFile } from './hub-api.js';
import { TransientError, withRetry, type RetryInfo } from './retry.js';

export interface DownloadHooks {
  onStart?: (resumeFrom: number) => void;
  onBytes?: (n: number) => void;
  onRetry?: (info: RetryInfo) => void;
}

export interface DownloadTarget {
  repo: string;
  commit: string;
  file: HubFile;
  blobsDir: string;
}

/** huggingface_hub's _normalize_etag: drop a weak prefix and the quotes. */
export function normalizeEtag(v: string | null): string | null {
  if (v === null) return null;
  return v.replace(/^W\//, '').replace(/^"|"$/g, '');
}

async function sizeOf(p: string): Promise<number> {
  try {
    return (await stat(p)).size;
  } catch {
    return 0;
  }
}

/**
 * GET with redirects followed by hand, so the hub's own headers (on the first
 * hop) can be checked against the listing, and the token is dropped when a
 * redirect leaves the hub's origin (as huggingface_hub does for the CDN).
 */
async function fetchFollowing(t: DownloadTarget, url: string, headers: Record<string, string>, signal: AbortSignal, cfg: HubConfig): Promise<Response> {
  let current = url;
  const h = { ...headers };
  for (let hop = 0; hop < 6; hop++) {
    const res = await fetch(current, { headers: h, redirect: 'manual', signal });
    if (hop === 0) {
      const commit = res.headers.get('x-repo-commit');
      const etag = normalizeEtag(res.headers.get('x-linked-etag') ?? (res.status < 300 ? res.headers.get('etag') : null));
      if (commit !== null && commit !== t.commit) {
        await res.body?.cancel();
        throw new CatalogError('HIPSERVE_ERR_CATALOG_HUB_BAD_RESPONSE', t.repo, `${t.file.path} is served from commit ${commit}, the listing said ${t.commit}`);
      }
      if (etag !== null && (res.ok || res.status >= 300) && etag !== blobName(t.file)) {
        await res.body?.cancel();
        throw new CatalogError('HIPSERVE_ERR_CATALOG_HUB_BAD_RESPONSE', t.repo, `${t.file.path} has etag ${etag}, the listing said ${blobName(t.file)}`);
      }
    }
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc !== null) {
      await res.body?.cancel();
      const next = new URL(loc, current);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new CatalogError('HIPSERVE_ERR_CATALOG_HUB_BAD_RESPONSE', t.repo, `redirect to ${next.protocol}`);
      if (next.origin !== new URL(cfg.endpoint).origin) delete h.authorization;
      current = next.href;
      continue;
    }
    return res;
  }
  throw new CatalogError('HIPSERVE_ERR_CATALOG_HUB_BAD_RESPONSE', t.repo, `too many redirects for ${t.file.path}`);
}

interface Progress {
  hasher: Hash;
  offset: number;
}

async function restart(incomplete: string, p: Progress, kind: HashKind, size: number): Promise<void> {
  await truncate(incomplete, 0).catch(() => undefined);
  p.hasher = createBlobHasher(kind, size);
  p.offset = 0;
}

/** One attempt: bring `.incomplete` from p.offset towards size. Throws TransientError for what a retry can fix. */
async function attempt(cfg: HubConfig, t: DownloadTarget, incomplete: string, kind: HashKind, p: Progress, hooks: DownloadHooks): Promise<void> {
  const { size } = t.file;
  const url = `${cfg.endpoint}/${encodePath(t.repo)}/resolve/${t.commit}/${encodePath(t.file.path)}`;
  const headers: Record<string, string> = { ...authHeaders(cfg), 'accept-encoding': 'identity' };
  if (p.offset > 0) headers.range = `bytes=${p.offset}-`;
  const ac = new AbortController();
  let timer = setTimeout(() => { ac.abort(); }, cfg.idleTimeoutMs);
  const poke = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => { ac.abort(); }, cfg.idleTimeoutMs);
  };
  let fh: FileHandle | undefined;
  try {
    const res = await fetchFollowing(t, url, headers, ac.signal, cfg);
    if (res.status === 416) {
      await res.body?.cancel();
      await restart(incomplete, p, kind, size);
      throw new TransientError(`range ${p.offset}- not satisfiable for ${t.file.path}; starting over`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw hubError(res, cfg, { repo: t.repo, revision: t.commit, file: t.file.path });
    }
    if (res.status === 200 && p.offset > 0) await restart(incomplete, p, kind, size); // Range ignored: full body follows
    if (res.status === 206) {
      const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== p.offset) {
        await res.body?.cancel();
        await restart(incomplete, p, kind, size);
        throw new TransientError(`unexpected Content-Range for ${t.file.path}; starting over`);
      }
    }
    hooks.onStart?.(p.offset);
    fh = await open(incomplete, 'a', FILE_MODE);
    if (res.body) {
      for await (const chunk of res.body) {
        poke();
        const buf = chunk as Uint8Array;
        if (p.offset + buf.length > size) {
          await fh.close();
          fh = undefined;
          await unlink(incomplete).catch(() => undefined);
          throw new CatalogError('HIPSERVE_ERR_CATALOG_PULL_FAILED', `${t.file.path}: the server sent more than the ${size} bytes the listing announced`);
        }
        await fh.write(buf);
        p.hasher.update(buf);
        p.offset += buf.length;
        hooks.onBytes?.(buf.length);
      }
    }
    if (p.offset < size) throw new TransientError(`${t.file.path}: connection closed after ${p.offset} of ${size} bytes`);
    await fh.sync();
  } finally {
    clearTimeout(timer);
    await fh?.close();
  }
}

/**
 * Download `t.file` into blobs/<hash> unless it is there already. Returns the
 * bytes fetched over the network (0 when the blob existed).
 */
export async function downloadBlob(cfg: HubConfig, t: DownloadTarget, hooks: DownloadHooks = {}, fresh = false): Promise<number> {
  const blob = blobName(t.file);
  const kind: HashKind = t.file.sha256 ? 'sha256' : 'git-sha1';
  const final = join(t.blobsDir, blob);
  const incomplete = `${final}.incomplete`;
  const { size } = t.file;
  if ((await sizeOf(final)) === size && (await stat(final).then((s) => s.isFile(), () => false))) return 0;

  let fetched = 0;
  const counting: DownloadHooks = { ...hooks, onBytes: (n) => { fetched += n; hooks.onBytes?.(n); } };
  const p: Progress = { hasher: createBlobHasher(kind, size), offset: 0 };
  let have = fresh ? 0 : await sizeOf(incomplete);
  if (have > size) {
    await truncate(incomplete, 0);
    have = 0;
  }
  await hashPrefix(incomplete, have, p.hasher);
  p.offset = have;
  if (p.offset < size) {
    await withRetry(cfg.retry, () => attempt(cfg, t, incomplete, kind, p, counting), hooks.onRetry);
  } else {
    hooks.onStart?.(p.offset);
  }
  if (size === 0) await open(incomplete, 'a', FILE_MODE).then((fh) => fh.close());

  const actual = p.hasher.digest('hex');
  if (actual !== blob) {
    await unlink(incomplete).catch(() => undefined);
    // A partial file from an earlier run may be what was wrong: start over once.
    if (have > 0 && !fresh) return fetched + (await downloadBlob(cfg, t, hooks, true));
    throw new CatalogError('HIPSERVE_ERR_CATALOG_HASH_MISMATCH', `${t.repo}/${t.file.path}`, `${kind} ${blob}`, actual);
  }
  await rename(incomplete, final);
  await fsyncDir(t.blobsDir);
  return fetched;
}
