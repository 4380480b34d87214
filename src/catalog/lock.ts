// Advisory per-model lock: a file created with O_EXCL holding pid, hostname
// and a nonce. Two processes pulling one model therefore take turns, and the
// second finds the blobs already there. A lock whose pid is dead on this host
// is stale and taken over; a lock from another host (shared network cache)
// is never taken over, because its pid cannot be checked from here.
//
// Taking over goes through a second O_EXCL "breaker" file so that two
// waiters cannot both delete the stale lock and then each other's fresh one.
// The nonce makes release delete only our own lock.
//
// This does not interoperate with huggingface_hub's flock-based .locks/ —
// a Python download of the same file at the same moment is not excluded
// (it still cannot corrupt a blob: both sides write temp files and rename).

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { openSync, writeSync, fsyncSync, closeSync, readFileSync, unlinkSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirPrivate } from './fs-safe.js';

export interface LockHolder {
  pid: number;
  host: string;
  nonce: string;
  since: number;
}

/** Whether a pid on this host is alive (EPERM means alive but not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readHolder(path: string): LockHolder | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.nonce === 'string') {
      return { pid: v.pid, host: v.host, nonce: v.nonce, since: typeof v.since === 'number' ? v.since : 0 };
    }
  } catch {
    // missing, half-written or garbage: decided by the caller
  }
  return null;
}

/** Dead pid on this host = stale. An unreadable lock file is stale once it is old enough to not be mid-write. */
function isStale(path: string, holder: LockHolder | null): boolean {
  if (holder) return holder.host === hostname() && !pidAlive(holder.pid);
  try {
    return Date.now() - statSync(path).mtimeMs > 5000;
  } catch {
    return false;
  }
}

function tryCreate(path: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify(holder));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Remove a stale lock, guarded by the breaker file. */
function breakStale(path: string, seen: LockHolder | null): void {
  const breaker = `${path}.break`;
  const me: LockHolder = { pid: process.pid, host: hostname(), nonce: randomBytes(8).toString('hex'), since: Date.now() };
  if (!tryCreate(breaker, me)) {
    // A breaker left by a process that died mid-takeover is itself stale.
    if (isStale(breaker, readHolder(breaker))) unlinkQuiet(breaker);
    return;
  }
  try {
    const now = readHolder(path);
    const same = now === null ? seen === null : seen !== null && now.nonce === seen.nonce;
    if (same && isStale(path, now)) unlinkQuiet(path);
  } finally {
    unlinkQuiet(breaker);
  }
}

export interface Lock {
  path: string;
  release(): void;
}

const held = new Set<Lock>();
let exitHook = false;

export interface AcquireOptions {
  /** false: return null at once when another live process holds the lock. */
  wait: boolean;
  /** Called once when we start waiting, with who holds it. */
  onWait?: (holder: LockHolder | null) => void;
  pollMs?: number;
}

export async function acquireLock(path: string, opts: AcquireOptions): Promise<Lock | null> {
  await mkdirPrivate(dirname(path));
  const me: LockHolder = { pid: process.pid, host: hostname(), nonce: randomBytes(8).toString('hex'), since: Date.now() };
  let told = false;
  for (;;) {
    if (tryCreate(path, me)) return register(path, me.nonce);
    const holder = readHolder(path);
    if (isStale(path, holder)) {
      breakStale(path, holder);
      continue;
    }
    if (!opts.wait) return null;
    if (!told) {
      told = true;
      opts.onWait?.(holder);
    }
    await sleep((opts.pollMs ?? 100) + Math.floor(Math.random() * 50));
  }
}

function register(path: string, nonce: string): Lock {
  const lock: Lock = {
    path,
    release() {
      if (!held.delete(lock)) return;
      if (readHolder(path)?.nonce === nonce) unlinkQuiet(path);
    },
  };
  held.add(lock);
  if (!exitHook) {
    exitHook = true;
    // A normal exit (including process.exit) frees what we hold; a kill -9 is handled as a stale lock.
    process.on('exit', () => {
      for (const l of [...held]) l.release();
    });
  }
  return lock;
}

export async function withLock<T>(path: string, opts: Omit<AcquireOptions, 'wait'>, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, { ...opts, wait: true });
  if (!lock) throw new Error(`could not take ${path}`);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
