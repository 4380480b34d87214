// Pull progress: one event stream, two renderers. On a TTY, cli-progress bars
// (one per file in flight plus a total, with bytes/s and ETA); otherwise plain
// log lines, one per file start/finish/retry, so logs stay greppable.

import cliProgress from 'cli-progress';
import { formatBytes } from './size.js';

export type PullEvent =
  | { type: 'plan'; repo: string; commit: string; totalBytes: number; cachedBytes: number; files: { path: string; size: number; cached: boolean }[] }
  | { type: 'waiting-lock'; repo: string; pid: number | null; host: string | null }
  | { type: 'file-start'; path: string; size: number; resumeFrom: number }
  | { type: 'bytes'; path: string; bytes: number }
  | { type: 'file-done'; path: string; size: number }
  | { type: 'retry'; path: string; attempt: number; delayMs: number; reason: string }
  | { type: 'done'; repo: string; commit: string; downloadedBytes: number };

export type ProgressListener = (ev: PullEvent) => void;

export interface ProgressReporter {
  listener: ProgressListener;
  stop(): void;
}

/** Plain lines on `out` (stderr by default): for logs, pipes and servers. */
export function lineReporter(write: (line: string) => void = (l) => process.stderr.write(l + '\n')): ProgressReporter {
  const started = new Map<string, number>();
  return {
    listener(ev) {
      switch (ev.type) {
        case 'plan':
          write(`pull ${ev.repo}@${ev.commit.slice(0, 12)}: ${ev.files.length} files, ${formatBytes(ev.totalBytes)} (${formatBytes(ev.cachedBytes)} already cached)`);
          break;
        case 'waiting-lock':
          write(`waiting for another pull of ${ev.repo} (pid ${ev.pid ?? '?'} on ${ev.host ?? '?'})`);
          break;
        case 'file-start':
          started.set(ev.path, Date.now());
          write(`  get ${ev.path} (${formatBytes(ev.size)}${ev.resumeFrom > 0 ? `, resuming at ${formatBytes(ev.resumeFrom)}` : ''})`);
          break;
        case 'file-done': {
          const secs = Math.max(0.001, (Date.now() - (started.get(ev.path) ?? Date.now())) / 1000);
          write(`  done ${ev.path} (${formatBytes(ev.size)}, ${formatBytes(ev.size / secs)}/s)`);
          break;
        }
        case 'retry':
          write(`  retry ${ev.path} #${ev.attempt} in ${ev.delayMs} ms: ${ev.reason}`);
          break;
        case 'done':
          write(`pulled ${ev.repo}@${ev.commit.slice(0, 12)} (${formatBytes(ev.downloadedBytes)} downloaded)`);
          break;
        case 'bytes':
          break;
      }
    },
    stop() {
      // nothing buffered
    },
  };
}

/** cli-progress bars on a TTY stream. */
export function barReporter(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      format: ' {name} |{bar}| {percentage}% {done}/{size} {speed}/s ETA {eta_formatted}',
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  let total: cliProgress.SingleBar | undefined;
  let totalDone = 0;
  let stopped = false;
  const t0 = Date.now();
  const payload = (name: string, done: number, size: number, since: number): Record<string, string> => ({
    name: name.length > 32 ? '…' + name.slice(-31) : name.padEnd(32),
    done: formatBytes(done),
    size: formatBytes(size),
    speed: formatBytes(done / Math.max(0.001, (Date.now() - since) / 1000)),
  });
  const fileState = new Map<string, { done: number; size: number; since: number; base: number }>();
  return {
    listener(ev) {
      switch (ev.type) {
        case 'plan': {
          const need = ev.totalBytes - ev.cachedBytes;
          total = multi.create(Math.max(1, need), 0, payload('total', 0, need, t0));
          break;
        }
        case 'waiting-lock':
          multi.log(`waiting for another pull of ${ev.repo} (pid ${ev.pid ?? '?'})\n`);
          break;
        case 'file-start': {
          const st = { done: ev.resumeFrom, size: ev.size, since: Date.now(), base: ev.resumeFrom };
          fileState.set(ev.path, st);
          bars.get(ev.path)?.stop();
          bars.set(ev.path, multi.create(Math.max(1, ev.size), ev.resumeFrom, payload(ev.path, ev.resumeFrom, ev.size, st.since)));
          break;
        }
        case 'bytes': {
          const st = fileState.get(ev.path);
          if (st) {
            st.done += ev.bytes;
            bars.get(ev.path)?.update(st.done, payload(ev.path, st.done - st.base, st.size - st.base, st.since));
          }
          totalDone += ev.bytes;
          total?.update(totalDone, payload('total', totalDone, total.getTotal(), t0));
          break;
        }
        case 'file-done': {
          const bar = bars.get(ev.path);
          if (bar) {
            bar.update(Math.max(1, ev.size));
            multi.remove(bar);
            bars.delete(ev.path);
          }
          multi.log(`done ${ev.path} (${formatBytes(ev.size)})\n`);
          break;
        }
        case 'retry':
          multi.log(`retry ${ev.path} #${ev.attempt} in ${ev.delayMs} ms: ${ev.reason}\n`);
          break;
        case 'done':
          break;
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      multi.stop();
    },
  };
}

/** Bars when stderr is a terminal, lines otherwise. */
export function createProgressReporter(): ProgressReporter {
  return process.stderr.isTTY ? barReporter(process.stderr) : lineReporter();
}
