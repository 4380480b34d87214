// hipserve's bookkeeping beside the HF layout: <cache>/.hipserve/index.json
// (0600). Read-modify-write happens under an advisory lock and the write is
// atomic, so concurrent pulls, gc and servers touching last-used never lose
// each other's updates or leave a torn file. The HF layout stays the source
// of truth for what exists; the index only adds last-used and trust.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hipserveDir, repoFolderName } from './paths.js';
import { writeFileAtomic } from './fs-safe.js';
import { withLock } from './lock.js';

/** Lookups may miss, so the map says so (noUncheckedIndexedAccess is off project-wide). */
export type IndexMap = Partial<Record<string, IndexEntry>>;

export type TrustState = 'verified' | 'unverified';

export interface IndexFile {
  path: string;
  blob: string;
  size: number;
}

export interface IndexEntry {
  repo: string;
  /** Revision asked for last (branch, tag or commit). */
  revision: string;
  commit: string;
  /** Files of `commit` that hipserve pulled (what serving needs). */
  files: IndexFile[];
  size: number;
  pulledAt: number;
  lastUsed: number;
  trust: TrustState;
  verifiedAt?: number;
}

interface IndexDoc {
  version: 1;
  models: IndexMap;
}

export function indexPath(root: string): string {
  return join(hipserveDir(root), 'index.json');
}

export function locksDir(root: string): string {
  return join(hipserveDir(root), 'locks');
}

export function modelLockPath(root: string, repoId: string): string {
  return join(locksDir(root), `${repoFolderName(repoId)}.lock`);
}

function isEntry(v: unknown): v is IndexEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.repo === 'string' && typeof e.commit === 'string' && typeof e.lastUsed === 'number' && Array.isArray(e.files);
}

/** Read the index; a missing or unreadable file is an empty index (the HF layout is rescanned anyway). */
export async function readIndex(root: string): Promise<IndexMap> {
  let text: string;
  try {
    text = await readFile(indexPath(root), 'utf8');
  } catch {
    return {};
  }
  try {
    const doc = JSON.parse(text) as Partial<IndexDoc>;
    const out: IndexMap = {};
    for (const [k, v] of Object.entries(doc.models ?? {})) if (isEntry(v)) out[k] = v;
    return out;
  } catch {
    return {};
  }
}

/** Apply `fn` to the index under the index lock and write it back atomically. */
export async function updateIndex(root: string, fn: (models: IndexMap) => void): Promise<void> {
  await withLock(join(locksDir(root), 'index.lock'), {}, async () => {
    const models = await readIndex(root);
    fn(models);
    const doc: IndexDoc = { version: 1, models };
    await writeFileAtomic(indexPath(root), JSON.stringify(doc, null, 2) + '\n');
  });
}

export async function touchLastUsed(root: string, repoId: string, when = Date.now()): Promise<void> {
  await updateIndex(root, (m) => {
    const e = m[repoId];
    if (e) e.lastUsed = when;
  });
}
