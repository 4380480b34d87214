// snapshots/<commit>/<file> -> ../../blobs/<hash> and refs/<revision>, as
// huggingface_hub lays them out. A new snapshot is built in a staging
// directory and renamed into place in one step, so a killed pull never leaves
// a snapshot with some of its files. Reading a snapshot (ours or one written
// by vLLM/transformers) checks that every link stays inside the cache root.

import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, realpath, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CatalogError } from './errors.js';
import { exists, fsyncDir, mkdirPrivate, symlinkAtomic, writeFileAtomic } from './fs-safe.js';
import { pidAlive } from './lock.js';
import { COMMIT_RE, hipserveDir, isInside, repoFolderName, safeJoin, validateRepoFilename, validateRevision, type RepoPaths } from './paths.js';

export interface SnapshotFile {
  path: string;
  blob: string;
}

/** The relative link target huggingface_hub writes (os.path.relpath from the link's directory). */
export function blobLinkTarget(path: string, blob: string): string {
  const depth = path.split('/').length - 1;
  return `${'../'.repeat(depth + 2)}blobs/${blob}`;
}

function stagingDir(root: string): string {
  return join(hipserveDir(root), 'staging');
}

/** Delete staging directories left by dead pulls of this repo (called under the model lock). */
export async function cleanStaleStaging(root: string, repoId: string): Promise<void> {
  const prefix = `${repoFolderName(repoId)}.`;
  let names: string[];
  try {
    names = await readdir(stagingDir(root));
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.split('.').at(-2));
    if (!Number.isInteger(pid) || !pidAlive(pid)) await rm(join(stagingDir(root), n), { recursive: true, force: true });
  }
}

async function linkPointsTo(link: string, target: string): Promise<boolean> {
  try {
    return (await readlink(link)) === target;
  } catch {
    return false;
  }
}

/** Make snapshots/<commit> contain `files`, atomically when the snapshot is new. */
export async function publishSnapshot(rp: RepoPaths, repoId: string, commit: string, files: SnapshotFile[]): Promise<string> {
  if (!COMMIT_RE.test(commit)) throw new CatalogError('HIPSERVE_ERR_CATALOG_INVALID_REVISION', commit, 'not a commit hash');
  const snap = join(rp.snapshots, commit);
  await mkdirPrivate(rp.snapshots);
  if (!(await exists(snap))) {
    const stage = join(stagingDir(rp.root), `${repoFolderName(repoId)}.${commit.slice(0, 12)}.${randomBytes(4).toString('hex')}.${process.pid}.d`);
    await mkdirPrivate(stage);
    for (const f of files) {
      validateRepoFilename(f.path);
      await symlinkAtomic(blobLinkTarget(f.path, f.blob), safeJoin(stage, f.path));
    }
    try {
      await rename(stage, snap);
      await fsyncDir(rp.snapshots);
      return snap;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      await rm(stage, { recursive: true, force: true });
      // Someone else (another tool) created it meanwhile: merge below.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  }
  const realRoot = await realpath(rp.root);
  for (const f of files) {
    validateRepoFilename(f.path);
    const link = safeJoin(snap, f.path);
    // An existing snapshot may hold directories we did not make: never write through a planted link.
    const parent = await realpath(dirname(link)).catch(() => null);
    if (parent !== null && !isInside(realRoot, parent)) throw new CatalogError('HIPSERVE_ERR_CATALOG_UNSAFE_PATH', link, rp.root);
    const target = blobLinkTarget(f.path, f.blob);
    if (!(await linkPointsTo(link, target))) await symlinkAtomic(target, link);
  }
  await fsyncDir(snap);
  return snap;
}

export async function readRef(rp: RepoPaths, revision: string): Promise<string | null> {
  if (COMMIT_RE.test(revision)) return revision;
  validateRevision(revision);
  try {
    const commit = (await readFile(safeJoin(rp.refs, revision), 'utf8')).trim();
    return COMMIT_RE.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

/** refs/<revision> = commit; like huggingface_hub, nothing is written for a commit revision. */
export async function writeRef(rp: RepoPaths, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  validateRevision(revision);
  const ref = safeJoin(rp.refs, revision);
  await mkdir(dirname(ref), { recursive: true, mode: 0o700 });
  await writeFileAtomic(ref, commit);
}

/**
 * The real path behind snapshots/<commit>/<path>, or null when missing.
 * Throws when a link (ours or planted) resolves outside the cache root.
 */
export async function resolveSnapshotFile(root: string, snapDir: string, path: string): Promise<string | null> {
  validateRepoFilename(path);
  const p = safeJoin(snapDir, path);
  try {
    await lstat(p);
  } catch {
    return null;
  }
  let real: string;
  try {
    real = await realpath(p);
  } catch {
    return null; // dangling link: the blob is gone
  }
  const realRoot = await realpath(root);
  if (!isInside(realRoot, real)) throw new CatalogError('HIPSERVE_ERR_CATALOG_UNSAFE_PATH', p, root);
  return real;
}

/** Relative paths of every file in a snapshot (links and plain files), sorted. */
export async function listSnapshot(snapDir: string, prefix = ''): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(join(snapDir, prefix), { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listSnapshot(snapDir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/**
 * Whether a snapshot someone else downloaded can be served: config.json plus
 * safetensors weights, and every shard a safetensors index names.
 */
export async function foreignSnapshotServable(root: string, snapDir: string): Promise<boolean> {
  if (!(await resolveSnapshotFile(root, snapDir, 'config.json'))) return false;
  const files = await listSnapshot(snapDir);
  const indexes = files.filter((f) => f.endsWith('.safetensors.index.json') && !f.includes('/'));
  if (indexes.length > 0) {
    for (const idx of indexes) {
      const real = await resolveSnapshotFile(root, snapDir, idx);
      if (!real) return false;
      const doc = JSON.parse(await readFile(real, 'utf8')) as { weight_map?: Record<string, string> };
      for (const shard of new Set(Object.values(doc.weight_map ?? {}))) {
        if (!(await resolveSnapshotFile(root, snapDir, shard))) return false;
      }
    }
    return true;
  }
  for (const f of files.filter((x) => x.endsWith('.safetensors'))) {
    if (await resolveSnapshotFile(root, snapDir, f)) return true;
  }
  return false;
}
