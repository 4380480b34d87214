// list / rm / gc / verify over the cache. The HF layout is the truth for what
// exists (models pulled by vLLM or transformers show up too); the index adds
// last-used and trust. Removal renames the repo folder out of the way first,
// so a model disappears in one step and never half-deleted.

import { readdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CatalogError } from './errors.js';
import { dirSize, exists, hashFile, hashKindOf, removeDirAtomic } from './fs-safe.js';
import { planEviction, type GcCandidate } from './gc-plan.js';
import { liveUsers } from './in-use.js';
import { modelLockPath, readIndex, updateIndex, type IndexEntry, type IndexFile, type TrustState } from './index-store.js';
import { acquireLock, pidAlive, readHolder } from './lock.js';
import { COMMIT_RE, cacheRoot, hipserveDir, repoFolderName, repoIdFromFolder, repoPaths, validateRepoId } from './paths.js';
import { listSnapshot, readRef, resolveSnapshotFile } from './snapshot.js';

export interface ModelInfo {
  repo: string;
  path: string;
  revision: string | null;
  commit: string | null;
  size: number;
  lastUsed: number;
  trust: TrustState;
  inUseBy: number[];
}

export async function listModels(env: NodeJS.ProcessEnv = process.env): Promise<ModelInfo[]> {
  const root = cacheRoot(env);
  const index = await readIndex(root);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const out: ModelInfo[] = [];
  for (const folder of names.sort()) {
    const repo = repoIdFromFolder(folder);
    if (!repo) continue;
    const dir = join(root, folder);
    const st = await stat(dir).catch(() => null);
    if (!st?.isDirectory()) continue;
    const e = index[repo];
    const rp = repoPaths(root, repo);
    const revision = e?.revision ?? ((await exists(join(rp.refs, 'main'))) ? 'main' : null);
    const commit = e?.commit ?? (revision ? await readRef(rp, revision) : null);
    out.push({
      repo,
      path: dir,
      revision,
      commit,
      size: await dirSize(dir),
      lastUsed: e?.lastUsed ?? st.mtimeMs,
      trust: e?.trust ?? 'unverified',
      inUseBy: liveUsers(root, folder),
    });
  }
  return out;
}

/** Finish deletions that a killed rm/gc left in the trash (named `<folder>.<pid>.<rand>`). */
async function sweepTrash(trash: string): Promise<void> {
  const names = await readdir(trash).catch(() => [] as string[]);
  for (const n of names) {
    const pid = Number(n.split('.').at(-2));
    if (!Number.isInteger(pid) || !pidAlive(pid)) await rm(join(trash, n), { recursive: true, force: true });
  }
}

async function removeLocked(root: string, repo: string, whoIsUsing: (pids: number[]) => void): Promise<number> {
  const rp = repoPaths(root, repo);
  const lock = await acquireLock(modelLockPath(root, repo), { wait: false });
  if (!lock) throw new CatalogError('HIPSERVE_ERR_CATALOG_BUSY', repo, readHolder(modelLockPath(root, repo))?.pid ?? '?');
  try {
    const users = liveUsers(root, repoFolderName(repo));
    if (users.length > 0) whoIsUsing(users);
    const size = await dirSize(rp.repo);
    const trash = join(hipserveDir(root), 'trash');
    await sweepTrash(trash);
    if (await exists(rp.repo)) await removeDirAtomic(rp.repo, trash);
    await updateIndex(root, (m) => {
      // Deleting through the index's own key is the point here.
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- keys are validated repo ids
      delete m[repo];
    });
    return size;
  } finally {
    lock.release();
  }
}

/** Remove one model (all revisions). Refused while a server uses it or a pull holds it. */
export async function removeModel(repo: string, env: NodeJS.ProcessEnv = process.env): Promise<{ repo: string; reclaimedBytes: number }> {
  validateRepoId(repo);
  const root = cacheRoot(env);
  const inIndex = (await readIndex(root))[repo] !== undefined;
  if (!inIndex && !(await exists(repoPaths(root, repo).repo))) {
    throw new CatalogError('HIPSERVE_ERR_CATALOG_NOT_FOUND', `${repo} is not in the cache at ${root}`);
  }
  const reclaimedBytes = await removeLocked(root, repo, (pids) => {
    throw new CatalogError('HIPSERVE_ERR_CATALOG_IN_USE', repo, pids.join(', '));
  });
  return { repo, reclaimedBytes };
}

export interface GcResult {
  maxBytes: number;
  reclaimedBytes: number;
  removed: { repo: string; size: number }[];
  /** Chosen but left alone because a server or pull took it meanwhile. */
  skipped: string[];
  remainingBytes: number;
}

export async function gc(maxBytes: number, env: NodeJS.ProcessEnv = process.env): Promise<GcResult> {
  const root = cacheRoot(env);
  const models = await listModels(env);
  const candidates: GcCandidate[] = models.map((m) => ({ repo: m.repo, size: m.size, lastUsed: m.lastUsed, inUse: m.inUseBy.length > 0 }));
  const plan = planEviction(candidates, maxBytes);
  const removed: GcResult['removed'] = [];
  const skipped: string[] = [];
  let remaining = candidates.reduce((a, m) => a + m.size, 0);
  for (const repo of plan.evict) {
    try {
      const size = await removeLocked(root, repo, () => { throw new Error('in use'); });
      removed.push({ repo, size });
      remaining -= size;
    } catch {
      skipped.push(repo);
    }
  }
  return { maxBytes, reclaimedBytes: removed.reduce((a, r) => a + r.size, 0), removed, skipped, remainingBytes: remaining };
}

export interface VerifyFile {
  path: string;
  blob: string | null;
  ok: boolean;
  problem?: string;
}

export interface VerifyResult {
  repo: string;
  commit: string;
  ok: boolean;
  files: VerifyFile[];
}

/** Re-hash every blob the model's snapshot links to and record the trust state. */
export async function verifyModel(repo: string, env: NodeJS.ProcessEnv = process.env): Promise<VerifyResult> {
  validateRepoId(repo);
  const root = cacheRoot(env);
  const rp = repoPaths(root, repo);
  const entry: IndexEntry | undefined = (await readIndex(root))[repo];
  let found: string | null = entry?.commit ?? (await readRef(rp, 'main'));
  if (!found) {
    const snaps = await readdir(rp.snapshots).catch(() => [] as string[]);
    found = snaps.length === 1 ? (snaps[0] ?? null) : null;
  }
  if (found === null || !COMMIT_RE.test(found)) throw new CatalogError('HIPSERVE_ERR_CATALOG_NOT_FOUND', `${repo} is not in the cache at ${root}`);
  const commit = found;
  const snap = join(rp.snapshots, commit);
  const files: VerifyFile[] = [];
  const seen: IndexFile[] = [];
  for (const path of await listSnapshot(snap)) {
    let real: string | null;
    try {
      real = await resolveSnapshotFile(root, snap, path);
    } catch (err) {
      files.push({ path, blob: null, ok: false, problem: err instanceof Error ? err.message : String(err) });
      continue;
    }
    if (!real) {
      files.push({ path, blob: null, ok: false, problem: 'blob missing (dangling link)' });
      continue;
    }
    const blob = basename(real);
    const kind = hashKindOf(blob);
    if (!kind) {
      files.push({ path, blob, ok: false, problem: 'not stored under its hash, cannot be verified' });
      continue;
    }
    const actual = await hashFile(real, kind);
    const size = (await stat(real)).size;
    seen.push({ path, blob, size });
    files.push(actual === blob ? { path, blob, ok: true } : { path, blob, ok: false, problem: `${kind} mismatch: expected ${blob}, got ${actual}` });
  }
  if (files.length === 0) throw new CatalogError('HIPSERVE_ERR_CATALOG_NOT_FOUND', `${repo}@${commit} has no files in the cache`);
  const ok = files.every((f) => f.ok);
  const now = Date.now();
  const lastUsed = (await stat(rp.repo).catch(() => null))?.mtimeMs ?? now;
  await updateIndex(root, (m) => {
    const e = m[repo];
    const trust: TrustState = ok ? 'verified' : 'unverified';
    if (e?.commit === commit) {
      e.trust = trust;
      e.verifiedAt = now;
    } else {
      m[repo] = { repo, revision: e?.revision ?? 'main', commit, files: seen, size: seen.reduce((a, f) => a + f.size, 0), pulledAt: e?.pulledAt ?? now, lastUsed: e?.lastUsed ?? lastUsed, trust, verifiedAt: now };
    }
  });
  return { repo, commit, ok, files };
}
