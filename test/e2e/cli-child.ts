// Runs `hipserve` as a child process the way an operator does, and reads its
// JSON log lines from stdout.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../fixtures/models.js';

/**
 * The built CLI (dist/, made by `npm ci`) when it is at least as new as every
 * source file; otherwise the sources through tsx, so a stale dist/ never
 * hides what the tree does.
 */
export function cliCommand(): { argv: string[]; how: string } {
  const built = join(repoRoot, 'dist', 'src', 'cli.js');
  let builtAt = -1;
  try {
    builtAt = statSync(built).mtimeMs;
  } catch {
    // no dist/
  }
  const newest = (dir: string): number => {
    let m = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) m = Math.max(m, newest(p));
      else if (e.name.endsWith('.ts')) m = Math.max(m, statSync(p).mtimeMs);
    }
    return m;
  };
  if (builtAt >= 0 && builtAt >= newest(join(repoRoot, 'src'))) return { argv: [built], how: 'dist/src/cli.js' };
  return { argv: ['--import', 'tsx', join(repoRoot, 'src', 'cli.ts')], how: 'src/cli.ts through tsx' };
}

export interface LogLine {
  level?: number;
  msg?: string;
  reqId?: string;
  [k: string]: unknown;
}

export interface Child {
  proc: ChildProcess;
  /** Every stdout line, raw. */
  lines: string[];
  stderr(): string;
  /** Resolves with the first parsed log line that matches (rejects if the process exits first). */
  waitForLog(match: (l: LogLine) => boolean): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

/** The environment without HIPSERVE_* settings from the outer shell (the addon path stays). */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('HIPSERVE_') && k !== 'HIPSERVE_ADDON') continue;
    env[k] = v;
  }
  return { ...env, HF_HUB_OFFLINE: '1', ...extra };
}

export function startCli(args: string[], env: NodeJS.ProcessEnv): Child {
  const { argv } = cliCommand();
  const proc = spawn(process.execPath, [...argv, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c: string) => { err += c; });
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  rl.on('line', (line) => {
    lines.push(line);
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].match(parsed)) {
        waiters[i].resolve(parsed);
        waiters.splice(i, 1);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => { resolve({ code, signal }); });
  });
  return {
    proc,
    lines,
    stderr: () => err,
    waitForLog: (match) => {
      for (const l of lines) {
        try {
          const p = JSON.parse(l) as LogLine;
          if (match(p)) return Promise.resolve(p);
        } catch {
          // not JSON
        }
      }
      return new Promise<LogLine>((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(({ code, signal }) => {
          reject(new Error(`hipserve exited (code ${String(code)}, signal ${String(signal)}) first; stderr: ${err}`));
        });
      });
    },
    exited,
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}
