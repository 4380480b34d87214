// Builds a directory once, atomically: a process writes into a private temp
// directory and renames it into place, so parallel test processes either see
// nothing or a complete directory, never a half-written one.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

export async function ensureDir(finalDir: string, build: (tmpDir: string) => void | Promise<void>): Promise<string> {
  if (existsSync(finalDir)) return finalDir;
  const parent = dirname(finalDir);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.tmp-${String(process.pid)}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(tmp);
  try {
    await build(tmp);
    try {
      renameSync(tmp, finalDir);
    } catch (err) {
      // Another process finished first: its directory is as good as ours.
      if (!existsSync(finalDir)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return finalDir;
}
