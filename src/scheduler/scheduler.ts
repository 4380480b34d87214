// Iteration-level continuous batching in the manner of vLLM v1's scheduler:
// there are no prefill and decode phases, only requests whose computed
// tokens catch up with their known tokens (prompt + output), a step at a time.
//
//   waiting (new or preempted, head first)      running (hold blocks)
//   [w0][w1][w2] ...                            [r0][r1][r2] ...
//         |   admitted in chunks when               |  each step: decode 1 token, or
//         +-> budget, seats and blocks allow ------>+  the next prefill chunk
//   <------ preempted by recompute (to the head) ---+  when blocks run out
//
// The contract is in interface.ts; this file is its one implementation.

import { KVCacheManager } from '../kvcache/manager.js';
import type { BlockHash, ComputedBlocks } from '../kvcache/types.js';
import type {
  FailedRequest,
  SchedFinishReason,
  SchedPolicy,
  SchedRequestInit,
  SchedRequestView,
  ScheduleOptions,
  Scheduler,
  SchedulerConfig,
  SchedulerOutput,
  SchedulerStats,
  ScheduledSeq,
} from './interface.js';
import { SchedRequest, compareRequests } from './request.js';

/** What update() needs of each seq of the step in flight, kept on our side of the boundary. */
interface InFlightSeq {
  req: SchedRequest;
  numTokens: number;
  sample: boolean;
}

export class BatchScheduler implements Scheduler {
  readonly kv: KVCacheManager;
  readonly policy: SchedPolicy;
  private readonly maxNumBatchedTokens: number;
  private readonly maxNumSeqs: number;
  private readonly usePriority: boolean;
  private readonly requests = new Map<string, SchedRequest>();
  /** Sorted: FCFS by arrival, priority by (priority, arrival); preempted ones thus come first. */
  private readonly waiting: SchedRequest[] = [];
  /** Ordered by admission (preempted ones re-enter at the end). */
  private readonly running: SchedRequest[] = [];
  private nextSeqNo = 0;
  private stepId = 0;
  private inFlight: { stepId: number; seqs: InFlightSeq[] } | null = null;
  private preemptions = 0;

  constructor(cfg: SchedulerConfig) {
    for (const [name, v] of [
      ['maxNumBatchedTokens', cfg.maxNumBatchedTokens],
      ['maxNumSeqs', cfg.maxNumSeqs],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    }
    this.maxNumBatchedTokens = cfg.maxNumBatchedTokens;
    this.maxNumSeqs = cfg.maxNumSeqs;
    this.policy = cfg.policy ?? 'fcfs';
    this.usePriority = this.policy === 'priority';
    this.kv = new KVCacheManager({
      numBlocks: cfg.numBlocks,
      blockSize: cfg.blockSize ?? 16,
      enablePrefixCaching: cfg.enablePrefixCaching ?? true,
      hashSeed: cfg.hashSeed,
    });
  }

  addRequest(init: SchedRequestInit): void {
    if (this.requests.has(init.id)) throw new Error(`request ${init.id} is already scheduled`);
    if (init.promptTokenIds.length === 0) throw new Error(`request ${init.id} has an empty prompt`);
    const req = new SchedRequest(init, this.nextSeqNo++);
    this.requests.set(req.id, req);
    this.insertWaiting(req);
  }

  schedule(opts: ScheduleOptions = {}): SchedulerOutput {
    if (this.inFlight !== null) {
      throw new Error(`schedule() called before update() of step ${this.inFlight.stepId}`);
    }
    const multi = this.scheduleMulti(opts.numSteps ?? 1);
    if (multi !== null) return multi;
    const stepId = ++this.stepId;
    const seqs: ScheduledSeq[] = [];
    const flight: InFlightSeq[] = [];
    const preempted: string[] = [];
    const failed: FailedRequest[] = [];
    let budget = this.maxNumBatchedTokens;

    // 1. Running requests, in order: decodes and unfinished prefill chunks.
    let i = 0;
    while (i < this.running.length && budget > 0) {
      const req = this.running[i];
      const numNew = Math.min(req.numTokens - req.numComputedTokens, budget);
      if (numNew <= 0) {
        // Cannot happen (a running request always has its last sampled
        // token to compute); skipping keeps the loop finite if it ever does.
        i++;
        continue;
      }
      let scheduled = false;
      for (;;) {
        if (this.kv.allocateSlots(req, numNew) !== null) {
          scheduled = true;
          break;
        }
        if (this.running.length === 1) {
          // Nobody else holds a block: it can never fit.
          failed.push(this.fail(req, req.numComputedTokens + numNew));
          break;
        }
        const victim = this.pickVictim();
        const vi = this.running.indexOf(victim);
        const si = flight.findIndex((f) => f.req === victim);
        if (si >= 0) {
          // Scheduled earlier in this step: take back its seat and tokens.
          budget += flight[si].numTokens;
          flight.splice(si, 1);
          seqs.splice(si, 1);
        }
        this.preempt(victim, vi);
        preempted.push(victim.id);
        if (vi < i) i--;
        if (victim === req) break;
      }
      if (!scheduled) continue; // req left running; i already points at the next one
      this.emit(req, numNew, seqs, flight);
      budget -= numNew;
      i++;
    }

    // 2. Waiting requests, head first, unless this step had to preempt (the
    // pool is tight: admitting now would only preempt again).
    if (preempted.length === 0) {
      let pending: Set<BlockHash> | null = null;
      while (this.waiting.length > 0 && budget > 0 && this.running.length < this.maxNumSeqs) {
        const req = this.waiting[0];
        if (this.kv.blocksFor(req.numTokens) > this.kv.usage().total) {
          failed.push(this.fail(req, req.numTokens)); // takes it out of waiting
          continue;
        }
        // (Hashes the prompt's blocks either way: they are cached for others once computed.)
        const found = this.kv.getComputedBlocks(req);
        const computed = req.skipPrefixCache ? { blockIds: [], numTokens: 0 } : found;
        pending ??= this.pendingHashes();
        if (!req.skipPrefixCache && this.waitsForSibling(req, computed, pending)) break;
        const numNew = Math.min(req.numTokens - computed.numTokens, budget);
        if (this.kv.allocateSlots(req, numNew, computed) === null) {
          if (this.kv.usage().used === 0) {
            // Unreachable after the check above; kept so that a change there
            // can never turn into an endless wait for blocks nobody holds.
            failed.push(this.fail(req, computed.numTokens + numNew));
            continue;
          }
          break; // FCFS: nobody overtakes the head; blocks free up as others finish
        }
        this.waiting.shift();
        req.status = 'running';
        req.numComputedTokens = computed.numTokens;
        req.numCachedTokens = computed.numTokens;
        this.running.push(req);
        this.addPending(req, pending);
        this.emit(req, numNew, seqs, flight);
        budget -= numNew;
      }
    }

    this.inFlight = { stepId, seqs: flight };
    const numBatchedTokens = this.maxNumBatchedTokens - budget;
    return { stepId, numSteps: 1, seqs, numBatchedTokens, preempted, failed };
  }

  /**
   * vLLM's multi-step scheduling: when nothing waits and every running
   * request is a single-token decode, reserve KV slots for up to `k` tokens
   * of each (fewer when max_tokens is nearer) so the runner can decode them
   * in one call. Null, with nothing changed but blocks reserved ahead, when
   * the step is not all decodes or the pool cannot give every request at
   * least its next token without preempting: the one-step path then decides.
   */
  private scheduleMulti(k: number): SchedulerOutput | null {
    if (k <= 1 || this.waiting.length > 0 || this.running.length === 0) return null;
    if (this.running.length > this.maxNumBatchedTokens) return null;
    // An embedding's last one-token chunk looks like a decode but samples nothing.
    for (const req of this.running) if (req.numTokens - req.numComputedTokens !== 1 || req.promptOnly) return null;
    const want: number[] = [];
    for (const req of this.running) {
      // The engine finishes a request at max_tokens, so a running one has room for one more.
      const w = Math.max(1, Math.min(k, req.maxTokens - req.outputTokenIds.length));
      // Lookahead only from free blocks; a request the pool cannot give even
      // its next token sends the step down the one-step path (which preempts).
      if (this.kv.allocateSlots(req, w) !== null) want.push(w);
      else if (this.kv.allocateSlots(req, 1) !== null) want.push(1);
      else return null;
    }
    const stepId = ++this.stepId;
    const seqs: ScheduledSeq[] = [];
    const flight: InFlightSeq[] = [];
    this.running.forEach((req, i) => {
      this.emit(req, 1, seqs, flight, want[i]);
    });
    this.inFlight = { stepId, seqs: flight };
    return { stepId, numSteps: Math.max(...want), seqs, numBatchedTokens: seqs.length, preempted: [], failed: [] };
  }

  update(out: SchedulerOutput, sampled: ArrayLike<number>): void {
    const S = out.seqs.length;
    const flight = this.takeInFlight(out, 'update', sampled.length, out.numSteps);
    for (let k = 0; k < out.numSteps; k++) {
      flight.seqs.forEach((f, j) => {
        const req = f.req;
        // Finished or aborted while its step ran (its blocks are already free),
        // or even replaced by a new request under the same id.
        if (this.requests.get(req.id) !== req || req.status !== 'running') return;
        const tok = f.sample ? sampled[k * S + j] : -1;
        // A sampling seq without a token did not really run (or, after the
        // first step of a multi-step output, had stopped): leave it as it
        // was (like cancelStep) so it is offered again and nothing is cached.
        // An embedding's last chunk ran without one: its blocks are cached
        // (for a later prompt that shares them) before the engine finishes it.
        if (f.sample && !(tok >= 0) && !req.promptOnly) return;
        if (k > 0 && (!f.sample || req.promptOnly)) return;
        req.numComputedTokens += f.numTokens;
        this.kv.cacheFullBlocks(req, req.numComputedTokens);
        if (f.sample && tok >= 0) req.appendOutput(tok);
      });
    }
  }

  cancelStep(out: SchedulerOutput): void {
    this.takeInFlight(out, 'cancelStep');
  }

  finish(requestId: string, _reason: SchedFinishReason): boolean {
    const req = this.requests.get(requestId);
    if (req === undefined) return false;
    this.remove(req);
    return true;
  }

  getRequest(requestId: string): SchedRequestView | undefined {
    return this.requests.get(requestId);
  }

  numWaiting(): number {
    return this.waiting.length;
  }

  numRunning(): number {
    return this.running.length;
  }

  hasPending(): boolean {
    return this.requests.size > 0;
  }

  stats(): SchedulerStats {
    return {
      numWaiting: this.waiting.length,
      numRunning: this.running.length,
      kv: this.kv.usage(),
      prefixCacheQueries: this.kv.prefixCacheQueries,
      prefixCacheHits: this.kv.prefixCacheHits,
      numPreemptions: this.preemptions,
    };
  }

  /** Checks `out` is the step in flight and ends it. */
  private takeInFlight(out: SchedulerOutput, what: string, numSampled?: number, numSteps = 1): { seqs: InFlightSeq[] } {
    const flight = this.inFlight;
    if (flight?.stepId !== out.stepId) {
      throw new Error(`${what}() of step ${out.stepId}, but the step in flight is ${flight?.stepId ?? 'none'}`);
    }
    if (numSampled !== undefined && numSampled < flight.seqs.length * numSteps) {
      throw new Error(`${what}() got ${numSampled} sampled tokens for ${flight.seqs.length} seqs x ${numSteps} steps`);
    }
    this.inFlight = null;
    return flight;
  }

  /** Ids in queue order, for tests and debugging. */
  queues(): { waiting: string[]; running: string[] } {
    return { waiting: this.waiting.map((r) => r.id), running: this.running.map((r) => r.id) };
  }

  private emit(req: SchedRequest, numNew: number, seqs: ScheduledSeq[], flight: InFlightSeq[], maxSteps = 1): void {
    const start = req.numComputedTokens;
    const end = start + numNew;
    const promptLen = req.promptTokenIds.length;
    const sample = end === req.numTokens;
    seqs.push({
      requestId: req.id,
      tokenIds: req.tokenIds.slice(start, end),
      startPos: start,
      numTokens: numNew,
      blockIds: this.kv.blockTable(req.id).slice(),
      sample,
      numOutputTokens: req.outputTokenIds.length,
      numPromptTokens: Math.max(0, Math.min(end, promptLen) - start),
      maxSteps,
    });
    flight.push({ req, numTokens: numNew, sample });
  }

  /** The least important running request: the largest (priority, arrival). */
  private pickVictim(): SchedRequest {
    let victim = this.running[0];
    for (const r of this.running) if (compareRequests(r, victim, this.usePriority) > 0) victim = r;
    return victim;
  }

  /** By recompute: its blocks go back to the pool (cached ones stay reusable), its KV is forgotten. */
  private preempt(req: SchedRequest, runningIndex: number): void {
    this.running.splice(runningIndex, 1);
    this.kv.free(req);
    req.numComputedTokens = 0;
    req.numCachedTokens = 0;
    req.numPreemptions++;
    req.status = 'waiting';
    this.preemptions++;
    this.insertWaiting(req);
  }

  private fail(req: SchedRequest, numTokens: number): FailedRequest {
    const usable = this.kv.usage().total;
    const bs = this.kv.blockSize;
    this.remove(req);
    return {
      requestId: req.id,
      reason:
        `request ${req.id} needs ${this.kv.blocksFor(numTokens)} KV blocks for ${numTokens} tokens, ` +
        `but the cache has ${usable} blocks of ${bs} tokens (${usable * bs} tokens): it cannot fit alone`,
    };
  }

  /** Out of whichever queue holds it, blocks freed, forgotten. */
  private remove(req: SchedRequest): void {
    const qi = req.status === 'running' ? this.running.indexOf(req) : this.waiting.indexOf(req);
    if (qi >= 0) (req.status === 'running' ? this.running : this.waiting).splice(qi, 1);
    this.kv.free(req);
    this.requests.delete(req.id);
  }

  /**
   * Waiting stays sorted by (priority, arrival) under 'priority', by arrival
   * under FCFS. A new request lands at the tail (it arrived last); a
   * preempted one lands at the head, since it was admitted, and so arrived,
   * before anything still waiting; under 'priority' it keeps its place by
   * its keys. Sorting instead of push/unshift also keeps the order right if
   * a caller passes arrival times out of order.
   */
  private insertWaiting(req: SchedRequest): void {
    let lo = 0;
    let hi = this.waiting.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareRequests(this.waiting[mid], req, this.usePriority) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.waiting.splice(lo, 0, req);
  }

  /**
   * Hashes of full prompt blocks that running requests are computing but have
   * not cached yet. (getComputedBlocks hashed every full prompt block at
   * admission; the ones at or past numComputedTokens are still in flight.)
   */
  private pendingHashes(): Set<BlockHash> {
    const out = new Set<BlockHash>();
    for (const r of this.running) this.addPending(r, out);
    return out;
  }

  private addPending(req: SchedRequest, into: Set<BlockHash>): void {
    if (!this.kv.enablePrefixCaching) return;
    for (let j = Math.floor(req.numComputedTokens / this.kv.blockSize); j < req.blockHashes.length; j++) {
      into.add(req.blockHashes[j]);
    }
  }

  /**
   * n > 1 siblings (and any requests sharing a prompt prefix) arrive
   * together: if the next block this request would compute is being computed
   * right now by a running request, wait a step or two and take it from the
   * cache instead of computing it twice. Waiting stops here (break), which
   * keeps FCFS; the sibling ahead is running, so this always resolves.
   */
  private waitsForSibling(req: SchedRequest, computed: ComputedBlocks, pending: Set<BlockHash>): boolean {
    const k = computed.blockIds.length;
    return k < req.blockHashes.length && pending.has(req.blockHashes[k]);
  }
}

/** The scheduler the engine uses. */
export function createScheduler(cfg: SchedulerConfig): Scheduler {
  return new BatchScheduler(cfg);
}
