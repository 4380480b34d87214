// Every request's grammar source (a JSON schema, EBNF, a regex, a
// structural tag) is compiled first in a worker thread with an xgrammar
// instance of its own, and only a source that compiled there is compiled
// in the server's instance. xgrammar's WebAssembly build does not survive
// every source it refuses: a throw or a trap (a parse error, a nesting deep
// enough to overflow its 64 KB stack: ~200 regex groups, ~100 $ref links,
// ~1000 EBNF parentheses) leaves its stack pointer where the failure was,
// and after one deep failure, or a few hundred shallow ones, every later
// compile fails with "memory access out of bounds" (measured 2026-12-07
// with @mlc-ai/web-xgrammar 0.1.27); some sources make it spin (a regex of
// 1000 nested groups ran for over a minute). So the worker is retired
// after an overflow, a compile that runs past the time limit, or
// MAX_REFUSALS plain refusals (each leaks ~0.3 KB of its stack: a few
// hundred are needed to break it), and the next check starts a fresh one
// (a second or so with a 150k-token vocabulary). An overflow in a worker
// that had refused before (less stack left) is checked again in a fresh
// one, so the leaks never refuse a source a fresh instance takes. A source
// that compiled in the worker compiles the same way, with at least as much
// stack, in the server's instance, which so never sees a refusal.
import { Worker } from 'node:worker_threads';
import type { CheckReply, CheckRequest } from './check-worker.js';
import type { GuidedVocab } from './xgrammar.js';
import { workerEntry } from '../worker-entry.js';

/** How long a source may take to compile in the worker (a large schema takes ~0.1-1.5 s). */
export const CHECK_TIMEOUT_MS = 5000;
/** How long a fresh worker may take to load xgrammar and the vocabulary. */
const START_TIMEOUT_MS = 60_000;
/** Plain refusals (parse errors) a worker takes before it is retired. */
export const MAX_REFUSALS = 32;
/** What libraryReason (xgrammar.ts) says of a trap or an abort with nothing printed: the worker is spent. */
export const OVERFLOW = 'nested too deeply for xgrammar';

interface Live {
  worker: Worker;
  ready: Promise<string | null>;
  refusals: number;
}

/** Checks grammar sources (GuideFactory's cache keys) in a worker, one at a time. */
export class GrammarChecker {
  private live: Live | null = null;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly vocab: GuidedVocab,
    private readonly timeoutMs = CHECK_TIMEOUT_MS,
  ) {}

  /** Null when the source compiled in the worker; else why not. */
  check(key: string): Promise<string | null> {
    const run = this.queue.then(() => this.run(key));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Stops the worker (the engine's close). */
  async close(): Promise<void> {
    const live = this.live;
    this.live = null;
    if (live !== null) await live.worker.terminate();
  }

  private spawn(): Live {
    const { filename, workerData } = workerEntry(import.meta.url, 'check-worker', { vocab: this.vocab });
    const worker = new Worker(new URL(filename), { workerData });
    worker.unref(); // never what keeps the process alive; close() stops it
    // An idle worker's error or exit (no check waiting) must not go unheard:
    // an 'error' without a listener would end the server.
    const forget = (): void => {
      if (this.live?.worker === worker) this.live = null;
    };
    worker.on('error', forget);
    worker.on('exit', forget);
    const ready = this.waitFor(worker, (m) => (m as { ready?: boolean }).ready === true, START_TIMEOUT_MS, 'start').then((r) => r.reason);
    return { worker, ready, refusals: 0 };
  }

  private async run(key: string, retried = false): Promise<string | null> {
    const live = (this.live ??= this.spawn());
    const startFailed = await live.ready;
    if (startFailed !== null) {
      this.retire(live);
      return startFailed;
    }
    const id = this.nextId++;
    const reply = this.waitFor(live.worker, (m) => (m as CheckReply).id === id, this.timeoutMs, 'compile');
    live.worker.postMessage({ id, key } satisfies CheckRequest);
    const { reason, broken } = await reply;
    if (reason === null) return null;
    const overflow = reason.includes(OVERFLOW);
    if (broken || overflow || ++live.refusals >= MAX_REFUSALS) this.retire(live);
    if (overflow && live.refusals > 0 && !retried) return this.run(key, true);
    return reason;
  }

  /** The worker's first message that `match`es, its exit, its error or the time limit, whichever comes first. */
  private waitFor(worker: Worker, match: (m: unknown) => boolean, ms: number, what: 'start' | 'compile'): Promise<{ reason: string | null; broken: boolean }> {
    return new Promise((resolve) => {
      const finish = (reason: string | null, broken: boolean): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve({ reason, broken });
      };
      const onMessage = (m: unknown): void => {
        if (match(m)) finish(what === 'compile' ? (m as CheckReply).reason : null, false);
      };
      const onError = (err: Error): void => { finish(`the grammar checker failed: ${err.message}`, true); };
      const onExit = (code: number): void => { finish(`the grammar checker stopped (exit code ${code})`, true); };
      const timer = setTimeout(() => {
        finish(what === 'compile' ? `it did not compile within ${ms / 1000} s` : `the grammar checker did not start within ${ms / 1000} s`, true);
      }, ms);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  private retire(live: Live): void {
    if (this.live === live) this.live = null;
    void live.worker.terminate();
  }
}
