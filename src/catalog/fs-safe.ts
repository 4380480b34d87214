// File-system helpers that make every visible change atomic: write a temp
// file, fsync it, rename it over the target, fsync the directory. A crash at
// any point leaves the old state or the new one, never a torn file.
//
// TOCTOU limit: paths are checked and then used in separate system calls.
// Someone who can write into the cache directories could swap a directory for
// a symlink in between. Directories we create are 0700 and files 0600, so
// only the same user (or root) can do that; a cache shared with other users
// through group/world-writable directories is not protected.

import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, symlink, lstat, unlink } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** mkdir -p with 0700 for the directories it creates (existing ones are left alone). */
export async function mkdirPrivate(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
}

/** fsync a directory so a rename inside it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

export function tempName(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Replace `target` with `data` atomically (temp + fsync + rename + dir fsync). */
export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = FILE_MODE): Promise<void> {
  await mkdirPrivate(dirname(target));
  const tmp = tempName(target);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(target));
}

/** Create or replace the symlink `linkPath -> target` atomically. */
export async function symlinkAtomic(target: string, linkPath: string): Promise<void> {
  await mkdirPrivate(dirname(linkPath));
  const tmp = tempName(linkPath);
  await symlink(target, tmp);
  try {
    await rename(tmp, linkPath);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export type HashKind = 'sha256' | 'git-sha1';

/** The hash kind a blob name implies: 64 hex = LFS sha256, 40 hex = git blob sha1. */
export function hashKindOf(blob: string): HashKind | null {
  if (/^[0-9a-f]{64}$/.test(blob)) return 'sha256';
  if (/^[0-9a-f]{40}$/.test(blob)) return 'git-sha1';
  return null;
}

/**
 * A hasher for either kind. Git hashes `blob <size>\0` before the content,
 * which is why the total size must be known up front.
 */
export function createBlobHasher(kind: HashKind, size: number): Hash {
  if (kind === 'sha256') return createHash('sha256');
  const h = createHash('sha1');
  h.update(`blob ${size}\0`);
  return h;
}

/** Feed the first `length` bytes of a file into `hasher`. */
export async function hashPrefix(file: string, length: number, hasher: Hash): Promise<void> {
  if (length === 0) return;
  const stream = createReadStream(file, { start: 0, end: length - 1, highWaterMark: 1 << 20 });
  for await (const chunk of stream as AsyncIterable<Buffer>) hasher.update(chunk);
}

export async function hashFile(file: string, kind: HashKind): Promise<string> {
  const size = (await lstat(file)).size;
  const h = createBlobHasher(kind, size);
  await hashPrefix(file, size, h);
  return h.digest('hex');
}

/** Total bytes of regular files below `dir` (symlinks not followed, so blobs count once). */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await dirSize(p);
    else if (e.isFile()) total += (await lstat(p)).size;
  }
  return total;
}

/** Make a directory disappear atomically (rename into `trashDir`), then delete it. */
export async function removeDirAtomic(dir: string, trashDir: string): Promise<void> {
  await mkdirPrivate(trashDir);
  const doomed = join(trashDir, `${basename(dir)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await rename(dir, doomed);
  await fsyncDir(dirname(dir));
  await rm(doomed, { recursive: true, force: true });
}

export async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
