// The scheduler's contract: what src/engine/ codes against. Plain data in,
// plain data out; no I/O, no timers, no native calls (see DESIGN.md).
//
// One engine step reads as three lines:
//
//   const out = scheduler.schedule();            // who runs, how many tokens each
//   const sampled = await runner.execute(out);   // native forward (KV writes + sampling)
//   scheduler.update(out, sampled);              // advance, cache blocks, append tokens
//
// then the engine checks stops / max_tokens and calls finish() for the
// requests that are done. schedule() must not be called again before the
// update() (or cancelStep(), when the forward failed) of the previous output:
// the blocks a step writes into may only be handed to someone else once that
// step's forward has returned. `createScheduler(cfg)` in scheduler.ts builds
// the implementation.

import type { KvUsage } from '../kvcache/types.js';

/** Why a request left the scheduler (vLLM's finish reasons). */
export type SchedFinishReason = 'stop' | 'length' | 'abort';

/**
 * waiting: never scheduled, or preempted (its blocks freed, numComputedTokens 0);
 * running: holds blocks and is scheduled every step while the budget lasts.
 */
export type SchedRequestStatus = 'waiting' | 'running';

export type SchedPolicy = 'fcfs' | 'priority';

export interface SchedulerConfig {
  /** Blocks in the KV pool, the null block 0 included (so numBlocks - 1 are usable). */
  numBlocks: number;
  /** Tokens per block; 16 by default. */
  blockSize?: number;
  /** Token budget of one step (prefill chunks + decodes). */
  maxNumBatchedTokens: number;
  /** At most this many requests hold blocks (and so run in one step). */
  maxNumSeqs: number;
  /** Automatic prefix caching; true by default. */
  enablePrefixCaching?: boolean;
  /** 'fcfs' (default) or 'priority' (waiting ordered by (priority, arrival)). */
  policy?: SchedPolicy;
  /** Seed of the chained block hash; random per process when omitted (tests pass one). */
  hashSeed?: string;
}

export interface SchedRequestInit {
  id: string;
  /** At least one token. */
  promptTokenIds: readonly number[];
  /** Kept for the engine's bookkeeping; the engine calls finish(id, 'length'). */
  maxTokens: number;
  /** Lower runs first (vLLM semantics); 0 when omitted. Only ordering in 'priority' policy. */
  priority?: number;
  /** Ordering key among equals; an insertion counter when omitted. */
  arrival?: number;
  /**
   * Compute every prompt token even where the prefix cache holds them (prompt
   * logprobs need each position's output). Its blocks are still cached for others.
   */
  skipPrefixCache?: boolean;
  /**
   * An embedding: its last prompt chunk computes hidden states and samples
   * nothing (no token comes back for it), and it never joins a multi-step
   * call (whose steps all sample).
   */
  promptOnly?: boolean;
}

/** One request's share of a step. */
export interface ScheduledSeq {
  requestId: string;
  /** The tokens computed this step: a slice of prompt + output. */
  tokenIds: readonly number[];
  /** Position of tokenIds[0] = the request's numComputedTokens before the step. */
  startPos: number;
  /** tokenIds.length; the sequence's context after the step is startPos + numTokens. */
  numTokens: number;
  /** The request's whole block table after allocation (no null-block padding). */
  blockIds: readonly number[];
  /** True when, after this step, every known token is computed: sample one token. */
  sample: boolean;
  /** Output tokens known before this step (the sampler's sampleIndex). */
  numOutputTokens: number;
  /** Of tokenIds, how many are prompt tokens (the rest are recomputed outputs or the decode). */
  numPromptTokens: number;
  /**
   * Tokens it may sample in this (multi-step) call: KV slots are reserved
   * for them. 1 in a one-step output; in a multi-step one 1..numSteps,
   * below numSteps when max_tokens is near or the pool is short.
   */
  maxSteps: number;
}

export interface ScheduleOptions {
  /**
   * Ask for a multi-step output of up to this many decode steps (vLLM's
   * --num-scheduler-steps). Granted only when nothing waits and every
   * running request is a single-token decode; otherwise the output is one
   * step, as without the option.
   */
  numSteps?: number;
}

/** A request the scheduler gave up on; it is already removed and its blocks freed. */
export interface FailedRequest {
  requestId: string;
  reason: string;
}

/** Plain data: printable, serializable, no references into the scheduler. */
export interface SchedulerOutput {
  /** Increases by one per schedule(); update() checks it. */
  stepId: number;
  /**
   * Decode steps of this output (1, or up to ScheduleOptions.numSteps): each
   * seq decodes one token per step, its sampled token feeding the next, and
   * stops early at its maxSteps or a stop token (the runner's business).
   */
  numSteps: number;
  /** In order: running requests first, then newly admitted ones. */
  seqs: ScheduledSeq[];
  /** Sum of seqs[i].numTokens; never above maxNumBatchedTokens. */
  numBatchedTokens: number;
  /** Ids preempted by recompute in this step (now at the head of waiting). */
  preempted: string[];
  /** Requests that cannot fit in the KV cache even alone; removed. */
  failed: FailedRequest[];
}

/** A read-only view of one request; the arrays are live, do not mutate them. */
export interface SchedRequestView {
  readonly id: string;
  readonly promptTokenIds: readonly number[];
  readonly outputTokenIds: readonly number[];
  readonly numComputedTokens: number;
  readonly status: SchedRequestStatus;
  readonly priority: number;
  readonly arrival: number;
  readonly maxTokens: number;
  /** Prompt tokens served from the prefix cache at its last admission. */
  readonly numCachedTokens: number;
  readonly numPreemptions: number;
}

export interface SchedulerStats {
  numWaiting: number;
  numRunning: number;
  kv: KvUsage;
  /** Tokens looked up in the prefix cache, cumulative (vLLM's prefix_cache_queries). */
  prefixCacheQueries: number;
  /** Of those, tokens found (vLLM's prefix_cache_hits). */
  prefixCacheHits: number;
  numPreemptions: number;
}

export interface Scheduler {
  /**
   * Queue a new request (status 'waiting'). Throws on a duplicate id or an
   * empty prompt: those are the caller's bugs, not runtime conditions.
   */
  addRequest(r: SchedRequestInit): void;

  /**
   * Decide the next step: running requests first (decodes and unfinished
   * prefill chunks, in running order), then waiting ones (head first) in
   * chunks, within maxNumBatchedTokens and maxNumSeqs. When the KV pool is
   * short, preempts the least important running request (largest
   * (priority, arrival) under 'priority', latest arrival under FCFS) by
   * recompute and retries; a request that cannot fit even alone is removed
   * and listed in `failed`. Waiting requests are not admitted in a step that
   * preempted, and the waiting head holds back for a step while a running
   * request is computing the very prompt blocks it could take from the
   * prefix cache (n > 1 siblings). Throws if the previous output was not
   * update()d or cancelStep()ped. With `numSteps`, see ScheduleOptions.
   */
  schedule(opts?: ScheduleOptions): SchedulerOutput;

  /**
   * After the forward of `out`: advance each seq's numComputedTokens by its
   * numTokens, register its newly full blocks in the prefix cache, and append
   * `sampled[i]` to seqs[i]'s output when seqs[i].sample (sampled is indexed
   * like out.seqs — pass the native `sampled` array as is; it is ignored
   * where sample is false). A sampling seq given -1 is left as if it had not
   * run (nothing advances or is cached; it is offered again next step).
   * Seqs whose request was finished or aborted since schedule() are skipped.
   * A multi-step output takes out.numSteps rows of out.seqs.length entries
   * (row k holds step k's tokens, -1 where a seq had stopped): each token
   * advances its seq by one, as k one-step updates would.
   * Returns nothing: the engine reads outputs through getRequest().
   */
  update(out: SchedulerOutput, sampled: ArrayLike<number>): void;

  /**
   * The forward of `out` failed: forget the step. Nothing advances and no
   * block is cached (its KV may be garbage; update() would register it in
   * the prefix cache for other requests to hit). The requests keep their
   * blocks, so the next schedule() offers the same work again; an engine
   * that gives up on them calls finish() as usual.
   */
  cancelStep(out: SchedulerOutput): void;

  /**
   * Remove a request wherever it is (waiting, prefilling, decoding, or inside
   * the step being computed) and free its blocks now. Returns false when the
   * id is unknown (already finished, failed, or never added): a no-op.
   */
  finish(requestId: string, reason: SchedFinishReason): boolean;

  /** The request's current state, or undefined once finished / failed. */
  getRequest(requestId: string): SchedRequestView | undefined;

  /** Requests waiting (new or preempted); the engine bounds its queue with it. */
  numWaiting(): number;
  /** Requests holding blocks; never above maxNumSeqs. */
  numRunning(): number;
  /** True while any request waits or runs. */
  hasPending(): boolean;
  /** Queue sizes, KV usage and cumulative counters, for metrics. */
  stats(): SchedulerStats;
}
