// Supervision of the engine's step loop: starting it from idle, restarting a
// crashed one after a back-off, and the failure counts and step clock the
// heartbeat (and so /health) reads. The loop itself is the engine's.
import type { Heartbeat } from './types.js';

/** First back-off before a crashed loop is restarted; doubles per consecutive crash up to LOOP_RESTART_MAX_MS. */
export const LOOP_RESTART_MIN_MS = 10;
export const LOOP_RESTART_MAX_MS = 1000;
/**
 * Consecutive failures (crashes and failed steps) after which a crash fails
 * every pending request instead of leaving it to wait for --request-timeout
 * (600 s by default): with the back-off above, ~1.3 s of a loop that keeps
 * crashing. A failure or two in between is restarted and its requests go on.
 */
export const LOOP_FAILURES_FAIL_PENDING = 8;

interface ErrorLog {
  error(obj: object, msg?: string): void;
}

export class LoopSupervisor {
  private running = false;
  private stopped = false;
  /** A crashed loop's delayed restart; kick() leaves the start to it. */
  private restartTimer: NodeJS.Timeout | null = null;
  private lastStepAt = performance.now();
  /** Loop crashes and failed steps since the last completed step (Heartbeat.consecutiveFailures). */
  private failures = 0;
  private lastFailure: string | null = null;
  private lastFailureAt = 0;

  /**
   * `failPending` ends every pending request with the given reason; called
   * on a crash once the consecutive failures reach LOOP_FAILURES_FAIL_PENDING
   * (and on every crash after that, until a step completes).
   */
  constructor(
    private readonly loop: () => Promise<void>,
    private readonly hasPending: () => boolean,
    private readonly log: ErrorLog,
    private readonly failPending: (reason: string) => void = () => undefined,
  ) {}

  heartbeat(): Heartbeat {
    return {
      lastStepAt: this.lastStepAt,
      pending: this.hasPending(),
      consecutiveFailures: this.failures,
      lastFailure: this.lastFailure,
      lastFailureAt: this.lastFailureAt,
    };
  }

  /**
   * Starts the loop from idle. The heartbeat's clock starts here, so a
   * request that arrives after a long idle time is not taken for a stall;
   * a crashed loop's restart does not move it (see start).
   */
  kick(): void {
    if (this.running || this.restartTimer !== null || this.stopped) return;
    this.lastStepAt = performance.now();
    this.start();
  }

  /** A step completed at `now`: the clock moves and the failure count resets. */
  stepCompleted(now: number): void {
    this.lastStepAt = now;
    this.failures = 0;
    this.lastFailure = null;
  }

  /** A failed step (or a crashed loop) counts towards the consecutive failures. */
  noteFailure(err: unknown): void {
    this.failures++;
    this.lastFailure = err instanceof Error ? err.message : String(err);
    this.lastFailureAt = performance.now();
  }

  /** No more starts or restarts; resolves once a running loop has returned. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * Runs the loop. A loop that ends normally is restarted at once if a
   * request arrived in between; one that crashed is counted as a failure
   * and restarted after a back-off (doubling per consecutive crash), never
   * at once: a loop that fails before its first await would otherwise
   * restart from the microtask queue forever and starve the event loop.
   * Once the crashes and failed steps in a row reach
   * LOOP_FAILURES_FAIL_PENDING, a crash fails the pending requests (a
   * restart then finds nothing to do unless new ones came).
   */
  private start(): void {
    this.running = true;
    this.loop().then(
      () => {
        this.running = false;
        // A request may have arrived between the last check and now.
        if (this.hasPending()) this.kick();
      },
      (err: unknown) => {
        this.running = false;
        this.noteFailure(err);
        this.log.error({ err, consecutiveFailures: this.failures }, 'engine loop failed; restarting it after a back-off');
        if (this.stopped) return;
        if (this.failures >= LOOP_FAILURES_FAIL_PENDING && this.hasPending()) {
          const reason = `the engine loop failed ${String(this.failures)} times in a row: ${this.lastFailure ?? 'unknown error'}`;
          try {
            this.failPending(reason);
          } catch (failErr) {
            this.log.error({ err: failErr }, 'failing the pending requests failed');
          }
        }
        const delay = Math.min(LOOP_RESTART_MAX_MS, LOOP_RESTART_MIN_MS * 2 ** Math.min(this.failures - 1, 16));
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          if (!this.stopped && !this.running && this.hasPending()) this.start();
        }, delay);
      },
    );
  }
}
