// "In use" markers for running servers: <cache>/.hipserve/inuse/<folder>/<pid>-<nonce>
// holding pid and hostname. gc and rm skip a model with a live marker; a
// marker whose pid is dead on this host is stale and ignored (and swept).
// Markers from another host count as live: their pid cannot be checked here.
// Limit: pid reuse after a crash can make a stale marker look live until the
// reused pid exits; the cost is only that gc keeps that model longer.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdirSync, readdirSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { pidAlive } from './lock.js';
import { cacheRoot, hipserveDir, repoIdFromFolder } from './paths.js';

function markerDir(root: string, folder: string): string {
  return join(hipserveDir(root), 'inuse', folder);
}

/** The `models--org--name` folder that `localPath` lives in, if it is inside the cache. */
export function repoFolderOf(root: string, localPath: string): string | null {
  let real: string;
  let realRoot: string;
  try {
    real = realpathSync(localPath);
    realRoot = realpathSync(root);
  } catch {
    return null;
  }
  // The path as given (snapshot dir) or resolved (a blob) both sit under models--*.
  for (const p of [localPath, real]) {
    const rel = relative(p === real ? realRoot : root, p);
    const first = rel.split(sep)[0] ?? '';
    if (!rel.startsWith('..') && repoIdFromFolder(first) !== null) return first;
  }
  return null;
}

/**
 * Mark the model containing `localPath` as used by this process until the
 * returned function is called. Paths outside the cache are not tracked.
 */
export function markInUse(localPath: string, env: NodeJS.ProcessEnv = process.env): () => void {
  const root = cacheRoot(env);
  const folder = repoFolderOf(root, localPath);
  if (!folder) return () => undefined;
  const dir = markerDir(root, folder);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${process.pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(file, JSON.stringify({ pid: process.pid, host: hostname(), since: Date.now() }), { mode: 0o600, flag: 'wx' });
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    try {
      unlinkSync(file);
    } catch {
      // already swept
    }
  };
  process.on('exit', release);
  return release;
}

/** Pids of live users of a repo folder; stale markers are deleted on the way. */
export function liveUsers(root: string, folder: string): number[] {
  const dir = markerDir(root, folder);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const live: number[] = [];
  for (const n of names) {
    const file = join(dir, n);
    let pid = NaN;
    let host = '';
    try {
      const v = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown; host?: unknown };
      pid = typeof v.pid === 'number' ? v.pid : NaN;
      host = typeof v.host === 'string' ? v.host : '';
    } catch {
      // unreadable: treated as stale below
    }
    if (Number.isInteger(pid) && (host !== hostname() || pidAlive(pid))) {
      live.push(pid);
    } else {
      try {
        unlinkSync(file);
      } catch {
        // raced with its owner
      }
    }
  }
  return live;
}
