// `hipserve pull`: ask the hub what a revision holds, fetch what serving
// needs (several files at once), publish the snapshot, write the ref, record
// the model in the index. The whole thing runs under the per-model lock, so a
// second pull of the same model waits and then finds everything in place.

import { realpath, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { CatalogError, errorMessage } from './errors.js';
import { hashFile, mkdirPrivate } from './fs-safe.js';
import { blobName, fetchRevision, hubConfigFromEnv, isOfflineEnv, type HubFile } from './hub-api.js';
import { downloadBlob } from './download.js';
import { modelLockPath, readIndex, updateIndex, type IndexFile } from './index-store.js';
import { acquireLock } from './lock.js';
import { cacheRoot, isInside, repoPaths, validateRepoFilename, validateRepoId, validateRevision } from './paths.js';
import type { ProgressListener, PullEvent } from './progress.js';
import { selectGguf, selectServingFiles } from './select.js';
import { formatBytes } from './size.js';
import { cleanStaleStaging, publishSnapshot, writeRef } from './snapshot.js';

export interface PullOptions {
  revision?: string;
  /** Pull only this GGUF file (the `org/repo:file.gguf` form). */
  gguf?: string;
  onProgress?: ProgressListener;
  env?: NodeJS.ProcessEnv;
  /** Files downloaded at once. */
  concurrency?: number;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  snapshotDir: string;
  /** The snapshot directory, or the GGUF file inside it. */
  path: string;
  files: IndexFile[];
  downloadedBytes: number;
}

async function isBlobPresent(blobsDir: string, f: HubFile): Promise<boolean> {
  try {
    const s = await stat(join(blobsDir, blobName(f)));
    return s.isFile() && s.size === f.size;
  } catch {
    return false;
  }
}

/** Fail before downloading when the file system clearly cannot hold the model (as huggingface_hub warns). */
async function checkDiskSpace(dir: string, need: number): Promise<void> {
  const fs = await statfs(dir).catch(() => null);
  if (!fs) return;
  const free = fs.bavail * fs.bsize;
  if (free < need) throw new CatalogError('HIPSERVE_ERR_CATALOG_PULL_FAILED', `not enough disk space in ${dir}: need ${formatBytes(need)}, ${formatBytes(free)} free`);
}

export async function pull(repoId: string, opts: PullOptions = {}): Promise<PullResult> {
  const env = opts.env ?? process.env;
  const revision = opts.revision ?? 'main';
  validateRepoId(repoId);
  validateRevision(revision);
  if (opts.gguf !== undefined) validateRepoFilename(opts.gguf);
  const emit = (ev: PullEvent): void => opts.onProgress?.(ev);
  const root = cacheRoot(env);
  if (isOfflineEnv(env)) throw new CatalogError('HIPSERVE_ERR_CATALOG_NETWORK', `cannot pull ${repoId}: HF_HUB_OFFLINE is set`);
  const cfg = hubConfigFromEnv(env); // reads the token file: after the offline check, which needs no token

  const info = await fetchRevision(cfg, repoId, revision, (r) => { emit({ type: 'retry', path: '(file list)', ...r }); });
  const wanted = opts.gguf !== undefined ? selectGguf(repoId, info.files, opts.gguf) : selectServingFiles(repoId, info.files);

  const rp = repoPaths(root, repoId);
  await mkdirPrivate(rp.blobs);
  // The repo folder or blobs/ could be links someone planted: write only where the cache really is.
  const [realRoot, realBlobs] = await Promise.all([realpath(root), realpath(rp.blobs)]);
  if (!isInside(realRoot, realBlobs)) throw new CatalogError('HIPSERVE_ERR_CATALOG_UNSAFE_PATH', rp.blobs, root);
  const lock = await acquireLock(modelLockPath(root, repoId), {
    wait: true,
    onWait: (h) => { emit({ type: 'waiting-lock', repo: repoId, pid: h?.pid ?? null, host: h?.host ?? null }); },
  });
  if (!lock) throw new CatalogError('HIPSERVE_ERR_CATALOG_PULL_FAILED', `could not lock ${repoId}`);
  try {
    await cleanStaleStaging(root, repoId);
    // Blobs already on disk count only once their hash is known good: either
    // an earlier verified pull recorded them, or we re-hash them now (blobs
    // from other tools, or after `verify` found a problem). Bad ones go.
    const before = (await readIndex(root))[repoId];
    const verifiedBefore = new Set(before?.trust === 'verified' ? before.files.map((f) => f.blob) : []);
    const cached = new Map<string, boolean>();
    for (const f of wanted) {
      let ok = await isBlobPresent(rp.blobs, f);
      const blobPath = join(rp.blobs, blobName(f));
      if (ok && !verifiedBefore.has(blobName(f))) {
        ok = (await hashFile(blobPath, f.sha256 ? 'sha256' : 'git-sha1')) === blobName(f);
        if (!ok) await unlink(blobPath);
      }
      cached.set(f.path, ok);
    }
    const totalBytes = wanted.reduce((a, f) => a + f.size, 0);
    const cachedBytes = wanted.reduce((a, f) => a + (cached.get(f.path) ? f.size : 0), 0);
    await checkDiskSpace(rp.blobs, totalBytes - cachedBytes);
    emit({ type: 'plan', repo: repoId, commit: info.commit, totalBytes, cachedBytes, files: wanted.map((f) => ({ path: f.path, size: f.size, cached: cached.get(f.path) ?? false })) });

    // Two names with identical content share one blob: fetch it once.
    const byBlob = new Map<string, Promise<number>>();
    const queue = new PQueue({ concurrency: opts.concurrency ?? 4 });
    const jobs = wanted.map((f) => {
      const blob = blobName(f);
      let job = byBlob.get(blob);
      if (!job) {
        job = queue.add(async () => {
          const n = await downloadBlob(cfg, { repo: repoId, commit: info.commit, file: f, blobsDir: rp.blobs }, {
            onStart: (from) => { emit({ type: 'file-start', path: f.path, size: f.size, resumeFrom: from }); },
            onBytes: (b) => { emit({ type: 'bytes', path: f.path, bytes: b }); },
            onRetry: (r) => { emit({ type: 'retry', path: f.path, ...r }); },
          });
          if (!cached.get(f.path)) emit({ type: 'file-done', path: f.path, size: f.size });
          return n;
        });
        byBlob.set(blob, job);
      }
      return job;
    });
    const settled = await Promise.allSettled(jobs);
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) {
      throw new CatalogError('HIPSERVE_ERR_CATALOG_PULL_FAILED', `${failures.length} files of ${repoId} failed: ${[...new Set(failures.map(errorMessage))].join('; ')}`);
    }
    const downloadedBytes = (await Promise.all(byBlob.values())).reduce((a, n) => a + n, 0);

    const files: IndexFile[] = wanted.map((f) => ({ path: f.path, blob: blobName(f), size: f.size }));
    const snapshotDir = await publishSnapshot(rp, repoId, info.commit, files);
    await writeRef(rp, revision, info.commit);

    await updateIndex(root, (m) => {
      const prev = m[repoId];
      const merged = new Map<string, IndexFile>();
      if (prev && prev.commit === info.commit) for (const f of prev.files) merged.set(f.path, f);
      for (const f of files) merged.set(f.path, f);
      const all = [...merged.values()];
      const now = Date.now();
      // Everything this pull touched is hash-checked; files kept from an
      // earlier pull of the same commit carry that pull's trust state.
      const thisPull = new Set(files.map((f) => f.path));
      const keepTrust = all.every((f) => thisPull.has(f.path)) || prev?.trust === 'verified';
      m[repoId] = {
        repo: repoId,
        revision,
        commit: info.commit,
        files: all,
        size: all.reduce((a, f) => a + f.size, 0),
        pulledAt: now,
        lastUsed: now,
        trust: keepTrust ? 'verified' : 'unverified',
        ...(keepTrust ? { verifiedAt: now } : {}),
      };
    });
    emit({ type: 'done', repo: repoId, commit: info.commit, downloadedBytes });
    const path = opts.gguf !== undefined ? join(snapshotDir, opts.gguf) : snapshotDir;
    return { repo: repoId, revision, commit: info.commit, snapshotDir, path, files, downloadedBytes };
  } finally {
    lock.release();
  }
}
