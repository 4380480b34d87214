// When the forward in flight last moved: the runner's progress counter (a
// layer done, a prompt-logprob chunk, a device step) sampled on a timer
// while work is pending and at each heartbeat read, so that a step longer
// than /health's stall threshold (a big prefill on a slow CPU) is not taken
// for a wedged one.

/** How often the forward's progress counter is sampled while work is pending. */
export const PROGRESS_SAMPLE_MS = 1000;

export class ProgressWatch {
  /** The counter at the last sample; null before the first or where the runner has none. */
  private last: number | null = null;
  private movedAt = 0;
  private readonly timer: NodeJS.Timeout;

  /**
   * `read` is the runner's counter (null where it keeps none). The timer
   * runs on the JS thread, which is free while a long step runs on the
   * worker, so the first heartbeat read in a long step already knows it moves.
   */
  constructor(
    private readonly read: () => number | null,
    hasPending: () => boolean,
  ) {
    this.timer = setInterval(() => {
      if (hasPending()) this.sample();
    }, PROGRESS_SAMPLE_MS);
    this.timer.unref();
  }

  /** Samples the counter and returns when it was last seen to move (performance.now(); 0 if never). */
  sample(): number {
    const p = this.read();
    if (p !== null) {
      if (this.last !== null && p !== this.last) this.movedAt = performance.now();
      this.last = p;
    }
    return this.movedAt;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
