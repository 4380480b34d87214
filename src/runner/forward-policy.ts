// Which entry of the addon runs a step: forward() on a libuv worker thread
// (the event loop keeps serving while the step runs) or forwardSync() on the
// JavaScript thread (the loop waits for the step).
//
// Why both: on the CPU backend the pool already uses every core. Through
// forward(), each step wakes a libuv thread to drive the pool and wakes the
// JS thread again at the end, and in between three threads (JS, the libuv
// driver, the pool's worker) compete for two cores. For a decode step of
// the bench's 110M model (3-6 ms) that measured 10-15% of the step
// (bench/README.md). forwardSync() has none of it, but blocks the loop: new
// requests, aborts and /health wait for the step. So a step runs on the JS
// thread only when it is predicted to be short: no longer than the budget,
// predicted from the last step's native time scaled up (never down) by the
// ratio of tokens. A first step, or one after a long one, goes async. The
// engine loop yields to I/O between steps either way.
//
// The same budget bounds a multi-step call (several decode steps per native
// call, src/scheduler/scheduler.ts): by default the engine asks for as many
// steps as the budget predicts to hold, so a burst blocks the loop, and
// delays streamed tokens, no longer than one budget.
import type { ModelHandle, KvCacheHandle, Step, StepOutput } from '../native.js';
import * as native from '../native.js';

/** Event-loop time one synchronous step may take; HIPSERVE_SYNC_STEP_MS overrides, 0 turns it off. */
export const DEFAULT_SYNC_STEP_MS = 10;

/** The budget from the environment, else the default; a malformed value is an error naming the variable. */
export function syncStepBudgetFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.HIPSERVE_SYNC_STEP_MS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_SYNC_STEP_MS;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) {
    throw new Error(`HIPSERVE_SYNC_STEP_MS must be a number of milliseconds >= 0, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** Predicts a step's native time from the last one and picks the entry. */
export class ForwardPolicy {
  private lastMs = Infinity;
  private lastTokens = 0;

  constructor(readonly budgetMs: number) {}

  /** Predicted native ms of a step of `tokens` tokens (Infinity before the first step). */
  predict(tokens: number): number {
    if (this.lastTokens === 0) return Infinity;
    return this.lastMs * Math.max(1, tokens / this.lastTokens);
  }

  /** Whether a call of `steps` steps of `tokens` tokens each runs on the JS thread. */
  sync(tokens: number, steps = 1): boolean {
    return this.budgetMs > 0 && this.predict(tokens) * steps <= this.budgetMs;
  }

  /** How many steps of `tokens` tokens one call may run within the budget: 1..max (1 without a prediction or budget). */
  steps(tokens: number, max: number): number {
    const one = this.predict(tokens);
    if (this.budgetMs <= 0 || !Number.isFinite(one) || one <= 0) return 1;
    return Math.max(1, Math.min(max, Math.floor(this.budgetMs / one)));
  }

  /** `nativeMs` for a call of `steps` steps of `tokens` tokens each. */
  record(tokens: number, nativeMs: number, steps = 1): void {
    this.lastTokens = tokens;
    this.lastMs = nativeMs / Math.max(1, steps);
  }
}

export interface StepRunner {
  (step: Step): Promise<StepOutput>;
  /** Calls run by each entry so far. */
  readonly counts: { sync: number; async: number };
  /** Decode steps of `tokens` tokens one call should run: as many as the sync budget holds, at most `max`. */
  stepsFor(tokens: number, max: number): number;
  /** The model's forward progress counter (native.forwardProgress); null once the model is released. */
  progress(): number | null;
}

/**
 * The step function of one model and cache: forwardSync() for short steps on
 * a CPU model, forward() otherwise; a failed step throws its NativeError.
 * Device models always go async: their forward waits on the device, and the
 * contention above is a CPU-backend effect (nothing was measured on a GPU).
 */
export function makeStepRunner(model: ModelHandle, kv: KvCacheHandle, opts: { backend: string; budgetMs: number }): StepRunner {
  const policy = new ForwardPolicy(opts.backend === 'cpu' ? opts.budgetMs : 0);
  const counts = { sync: 0, async: 0 };
  const run = async (step: Step): Promise<StepOutput> => {
    const tokens = step.tokenIds.length;
    const steps = step.numSteps ?? 1;
    let r: native.Result<StepOutput, native.NativeError>;
    if (policy.sync(tokens, steps)) {
      counts.sync++;
      r = native.forwardSync(model, kv, step);
    } else {
      counts.async++;
      r = await native.forward(model, kv, step);
    }
    if (!r.ok) throw r.error;
    // Steps run, not asked for: a burst ends early when every seq has stopped.
    policy.record(tokens, r.value.timings.forwardMs + r.value.timings.sampleMs, r.value.steps);
    return r.value;
  };
  const progress = (): number | null => {
    const r = native.forwardProgress(model);
    return r.ok ? r.value : null;
  };
  return Object.assign(run, { counts, stepsFor: (tokens: number, max: number) => policy.steps(tokens, max), progress });
}
