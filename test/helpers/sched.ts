// Builders and a step driver for the KV-cache and scheduler tests.
//
// The driver plays the engine: schedule -> "forward" -> update -> finish at
// max_tokens. Its forward writes a shadow KV cache: each slot gets a number
// standing for the K/V a real model would store there, a rolling hash of the
// whole prefix up to that position (a token's K/V depends on every token
// before it). Before a step, every position a sequence attends to must hold
// the value of ITS OWN prefix: that is what a real forward needs from block
// tables, prefix caching and preemption, checked without a model.

import type { BlockPool } from '../../src/kvcache/block-pool.js';
import type {
  SchedRequestInit,
  SchedulerConfig,
  SchedulerOutput,
} from '../../src/scheduler/interface.js';
import { SchedRequest } from '../../src/scheduler/request.js';
import { BatchScheduler } from '../../src/scheduler/scheduler.js';

export const TEST_SEED = 'hipserve-test-seed';

/** A scheduler with small, test-friendly defaults and a fixed hash seed. */
export function createScheduler(cfg: Partial<SchedulerConfig> = {}): BatchScheduler {
  return new BatchScheduler({
    numBlocks: 64,
    blockSize: 4,
    maxNumBatchedTokens: 32,
    maxNumSeqs: 8,
    hashSeed: TEST_SEED,
    ...cfg,
  });
}

/** `n` requests r0, r1, ... with distinct prompts of `promptLen` tokens (or a shared prefix). */
export function createRequests(
  n: number,
  opts: { promptLen?: number; maxTokens?: number; priority?: number; prefix?: readonly number[]; idPrefix?: string } = {},
): SchedRequestInit[] {
  const len = opts.promptLen ?? 8;
  const prefix = opts.prefix ?? [];
  return Array.from({ length: n }, (_, i) => ({
    id: `${opts.idPrefix ?? 'r'}${i}`,
    promptTokenIds: [...prefix, ...Array.from({ length: len - prefix.length }, (_, k) => 1000 * (i + 1) + k)],
    maxTokens: opts.maxTokens ?? 4,
    ...(opts.priority === undefined ? {} : { priority: opts.priority }),
  }));
}

/** Rolling 32-bit hash standing for the K/V of position p given tokens 0..p. */
export function prefixValues(tokens: readonly number[]): number[] {
  const out = new Array<number>(tokens.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < tokens.length; i++) {
    h = Math.imul(h ^ (tokens[i] + 0x9e3779b9), 0x01000193) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
    out[i] = h;
  }
  return out;
}

/** Consistency of the pool with the live block tables; returns problems (empty = fine). */
export function checkPool(sched: BatchScheduler): string[] {
  const errs: string[] = [];
  const pool: BlockPool = sched.kv.pool;
  const { waiting, running } = sched.queues();
  const refs = new Map<number, number>();
  for (const id of running) {
    const table = sched.kv.blockTable(id);
    if (new Set(table).size !== table.length) errs.push(`${id}: a block twice in one table`);
    for (const b of table) {
      if (b <= 0 || b >= pool.numBlocks) errs.push(`${id}: block id ${b} out of range`);
      refs.set(b, (refs.get(b) ?? 0) + 1);
    }
    const r = sched.getRequest(id);
    if (r?.status !== 'running') errs.push(`${id} in running with status ${r?.status ?? 'gone'}`);
  }
  for (const id of waiting) {
    if (sched.kv.blockTable(id).length > 0) errs.push(`${id} waits but holds blocks`);
    const r = sched.getRequest(id);
    if (r?.status !== 'waiting' || r.numComputedTokens !== 0) errs.push(`${id} in waiting in a bad state`);
  }
  const free = pool.freeListOrder();
  const freeSet = new Set(free);
  if (freeSet.size !== free.length) errs.push('a block twice in the free list');
  if (freeSet.has(0)) errs.push('the null block is in the free list');
  let cachedFree = 0;
  for (let b = 1; b < pool.numBlocks; b++) {
    const want = refs.get(b) ?? 0;
    if (pool.refCount(b) !== want) errs.push(`block ${b}: ref count ${pool.refCount(b)}, tables hold it ${want} times`);
    if ((want === 0) !== freeSet.has(b)) errs.push(`block ${b}: in free list = ${freeSet.has(b)} with ${want} refs`);
    const h = pool.hashOf(b);
    if (h !== undefined) {
      if (pool.lookup(h) !== b) errs.push(`block ${b}: hash maps elsewhere`);
      if (want === 0) cachedFree++;
    }
  }
  const u = pool.usage();
  if (u.free !== free.length || u.used + u.free !== u.total || u.cachedFree !== cachedFree) {
    errs.push(`usage ${JSON.stringify(u)} disagrees with the free list (${free.length}, ${cachedFree} cached)`);
  }
  return errs;
}

export interface DriverEvent {
  /** Added before this step's schedule(). */
  step: number;
  init: SchedRequestInit;
  /** If set: aborted at this step, before schedule ('before') or while its forward runs ('mid'). */
  abortAt?: { step: number; when: 'before' | 'mid' | 'after' };
}

export interface DriverResult {
  steps: number;
  outcomes: Map<string, 'length' | 'abort' | 'failed'>;
  /** request id -> (step, index in seqs) of each admission from waiting. */
  admissions: { id: string; step: number }[];
  outputs: SchedulerOutput[];
  errors: string[];
}

/**
 * Runs the scenario to the end (or maxSteps) checking invariants at every
 * step. The sampled token is a function of the prefix, as a greedy model's
 * would be, so outputs can be compared across runs.
 */
export function drive(
  sched: BatchScheduler,
  events: DriverEvent[],
  cfg: {
    maxNumBatchedTokens: number;
    maxNumSeqs: number;
    maxSteps: number;
    keepOutputs?: boolean;
    /** Steps whose forward "fails": garbage lands in the slots it wrote, then cancelStep(). */
    failSteps?: ReadonlySet<number>;
    /** Ask schedule() for multi-step outputs of this many steps; a granted one is run step by step on the shadow cache. */
    numSteps?: number;
  },
): DriverResult {
  const bs = sched.kv.blockSize;
  const shadow = new Map<number, number>(); // slot -> prefix value
  const outcomes = new Map<string, 'length' | 'abort' | 'failed'>();
  const admissions: { id: string; step: number }[] = [];
  const outputs: SchedulerOutput[] = [];
  const errors: string[] = [];
  const inits = new Map(events.map((e) => [e.init.id, e.init]));
  const lastStep = Math.max(0, ...events.map((e) => e.step));
  let step = 0;
  const abortNow = (when: 'before' | 'mid' | 'after'): void => {
    for (const e of events) {
      if (e.abortAt?.step === step && e.abortAt.when === when && !outcomes.has(e.init.id)) {
        if (sched.finish(e.init.id, 'abort')) outcomes.set(e.init.id, 'abort');
      }
    }
  };
  for (; step < cfg.maxSteps && errors.length === 0; step++) {
    for (const e of events) if (e.step === step) sched.addRequest(e.init);
    abortNow('before');
    if (!sched.hasPending()) {
      if (step >= lastStep) break;
      continue;
    }
    const waitingBefore = new Set(sched.queues().waiting);
    const out = sched.schedule(cfg.numSteps === undefined ? undefined : { numSteps: cfg.numSteps });
    if (cfg.keepOutputs === true) outputs.push(out);
    const K = out.numSteps;
    if (K > 1) {
      if (out.seqs.some((q) => q.numTokens !== 1 || !q.sample)) errors.push(`step ${step}: a multi-step output with a non-decode`);
      if (waitingBefore.size > 0) errors.push(`step ${step}: a multi-step output while requests wait`);
      if (K !== Math.max(...out.seqs.map((q) => q.maxSteps))) errors.push(`step ${step}: numSteps ${K} is not the largest maxSteps`);
    }
    for (const q of out.seqs) {
      const init = inits.get(q.requestId);
      const r = sched.getRequest(q.requestId);
      if (q.maxSteps < 1 || q.maxSteps > K) errors.push(`step ${step}: ${q.requestId} maxSteps ${q.maxSteps} outside 1..${K}`);
      if (init && r && K > 1 && r.outputTokenIds.length + q.maxSteps > init.maxTokens) errors.push(`step ${step}: ${q.requestId} may pass max_tokens`);
    }
    for (const f of out.failed) outcomes.set(f.requestId, 'failed');
    // The step's plain-data contract.
    const sum = out.seqs.reduce((a, s) => a + s.numTokens, 0);
    if (sum !== out.numBatchedTokens) errors.push(`step ${step}: numBatchedTokens ${out.numBatchedTokens} != ${sum}`);
    if (sum > cfg.maxNumBatchedTokens) errors.push(`step ${step}: ${sum} tokens over the budget`);
    if (out.seqs.length > cfg.maxNumSeqs) errors.push(`step ${step}: ${out.seqs.length} seqs over the cap`);
    if (sched.numRunning() > cfg.maxNumSeqs) errors.push(`step ${step}: ${sched.numRunning()} running over the cap`);
    if (new Set(out.seqs.map((s) => s.requestId)).size !== out.seqs.length) errors.push(`step ${step}: a request twice`);
    const written = new Set<number>();
    for (const s of out.seqs) {
      const r = sched.getRequest(s.requestId);
      if (r === undefined) {
        errors.push(`step ${step}: ${s.requestId} scheduled but unknown`);
        continue;
      }
      if (waitingBefore.has(s.requestId)) admissions.push({ id: s.requestId, step });
      const known = [...r.promptTokenIds, ...r.outputTokenIds];
      const end = s.startPos + s.numTokens;
      if (s.numTokens < 1 || s.startPos !== r.numComputedTokens || end > known.length) errors.push(`step ${step}: ${s.requestId} bad range`);
      if (s.tokenIds.join() !== known.slice(s.startPos, end).join()) errors.push(`step ${step}: ${s.requestId} wrong tokens`);
      if (s.sample !== (end === known.length)) errors.push(`step ${step}: ${s.requestId} sample flag wrong`);
      if (s.blockIds.length < Math.ceil(end / bs) || s.blockIds.includes(0)) errors.push(`step ${step}: ${s.requestId} table too short`);
      const vals = prefixValues(known.slice(0, end));
      for (let p = 0; p < s.startPos; p++) {
        const got = shadow.get(s.blockIds[Math.floor(p / bs)] * bs + (p % bs));
        if (got !== vals[p]) {
          errors.push(`step ${step}: ${s.requestId} reads wrong KV at position ${p}`);
          break;
        }
      }
      for (let p = s.startPos; p < end; p++) {
        const slot = s.blockIds[Math.floor(p / bs)] * bs + (p % bs);
        if (written.has(slot)) errors.push(`step ${step}: two writes to slot ${slot}`);
        written.add(slot);
        if (sched.kv.pool.refCount(s.blockIds[Math.floor(p / bs)]) !== 1) errors.push(`step ${step}: ${s.requestId} writes into a shared block`);
        shadow.set(slot, vals[p]);
      }
    }
    const { waiting, running } = sched.queues();
    // Work-conserving: budget left over means every running request got its turn.
    if (out.numBatchedTokens < cfg.maxNumBatchedTokens) {
      const inStep = new Set(out.seqs.map((q) => q.requestId));
      for (const id of running) if (!inStep.has(id)) errors.push(`step ${step}: ${id} runs but was skipped with budget left`);
    }
    for (const v of out.preempted) {
      const vr = sched.getRequest(v);
      if (vr === undefined || waiting.indexOf(v) < 0) errors.push(`step ${step}: preempted ${v} not waiting`);
      for (const id of running) {
        const rr = sched.getRequest(id);
        if (vr && rr && !less(rr, vr, sched)) errors.push(`step ${step}: preempted ${v} while less important ${id} runs`);
      }
    }
    // FCFS: the victims are at the head of waiting (they arrived before anyone still waiting).
    if (sched.policy === 'fcfs' && out.preempted.length > 0) {
      const head = new Set(waiting.slice(0, out.preempted.length));
      if (!out.preempted.every((v) => head.has(v))) errors.push(`step ${step}: victims ${out.preempted.join()} not at the head of ${waiting.join()}`);
    }
    // Waiting stays sorted (head-of-line admission then keeps FCFS / priority order).
    for (let k = 1; k < waiting.length; k++) {
      const a = sched.getRequest(waiting[k - 1]);
      const b = sched.getRequest(waiting[k]);
      if (a && b && !less(a, b, sched)) errors.push(`step ${step}: waiting out of order at ${k}`);
    }
    const admittedNow = out.seqs.filter((s) => waitingBefore.has(s.requestId));
    for (const s of admittedNow) {
      const a = sched.getRequest(s.requestId);
      const head = waiting.length > 0 ? sched.getRequest(waiting[0]) : undefined;
      if (a && head && !less(a, head, sched)) errors.push(`step ${step}: ${s.requestId} admitted ahead of ${head.id}`);
    }
    // Prefix hits are maximal: the block after an admitted request's cached
    // prefix (if it could have been a hit) is not in the cache.
    for (const s of admittedNow) {
      const r = sched.getRequest(s.requestId);
      if (!(r instanceof SchedRequest) || !sched.kv.enablePrefixCaching) continue;
      const k = r.numCachedTokens / bs;
      const cap = Math.floor((r.tokenIds.length - 1) / bs);
      if (k < cap && k < r.blockHashes.length && sched.kv.pool.lookup(r.blockHashes[k]) !== undefined) {
        errors.push(`step ${step}: ${r.id} took ${k} cached blocks but block ${k} was cached too`);
      }
    }
    errors.push(...checkPool(sched).map((e) => `step ${step} after schedule: ${e}`));
    abortNow('mid');
    if (cfg.failSteps?.has(step) === true) {
      for (const slot of written) shadow.set(slot, -1);
      sched.cancelStep(out);
      errors.push(...checkPool(sched).map((e) => `step ${step} after cancel: ${e}`));
      continue;
    }
    // Step k of a multi-step output: each seq with k < maxSteps reads its
    // whole prefix and writes position startPos + k, then samples.
    const S = out.seqs.length;
    const sampled: number[] = new Array<number>(K * S).fill(-1);
    const known = out.seqs.map((s) => {
      const r = sched.getRequest(s.requestId);
      return r ? [...r.promptTokenIds, ...r.outputTokenIds] : [...s.tokenIds];
    });
    out.seqs.forEach((s, i) => {
      if (s.sample) sampled[i] = (prefixValues(known[i]).at(-1) ?? 0) % 50000;
    });
    for (let k = 1; k < K; k++) {
      out.seqs.forEach((s, i) => {
        if (k >= s.maxSteps) return;
        // Aborted while the call runs: its blocks are free, but nothing can
        // take them before update(); what the native call still writes there
        // lies past its computed tokens, so no cached block is touched.
        if (sched.getRequest(s.requestId) === undefined) return;
        known[i].push(sampled[(k - 1) * S + i]);
        const p = s.startPos + k;
        const vals = prefixValues(known[i]);
        for (let q = 0; q < p; q++) {
          if (shadow.get(s.blockIds[Math.floor(q / bs)] * bs + (q % bs)) !== vals[q]) {
            errors.push(`step ${step}.${k}: ${s.requestId} reads wrong KV at position ${q}`);
            break;
          }
        }
        const blk = s.blockIds.at(Math.floor(p / bs));
        if (blk === undefined || blk === 0) {
          errors.push(`step ${step}.${k}: ${s.requestId} has no slot reserved for position ${p}`);
          return;
        }
        if (sched.kv.pool.refCount(blk) !== 1) errors.push(`step ${step}.${k}: ${s.requestId} writes into a shared block`);
        const slot = blk * bs + (p % bs);
        if (written.has(slot)) errors.push(`step ${step}.${k}: two writes to slot ${slot}`);
        written.add(slot);
        shadow.set(slot, vals[p]);
        sampled[k * S + i] = (vals.at(-1) ?? 0) % 50000;
      });
    }
    sched.update(out, sampled);
    for (const s of out.seqs) {
      const r = sched.getRequest(s.requestId);
      const init = inits.get(s.requestId);
      if (r && init && r.outputTokenIds.length > init.maxTokens) errors.push(`step ${step}: ${s.requestId} passed max_tokens`);
      if (r && init && r.outputTokenIds.length >= init.maxTokens) {
        sched.finish(s.requestId, 'length');
        outcomes.set(s.requestId, 'length');
      }
    }
    abortNow('after');
    errors.push(...checkPool(sched).map((e) => `step ${step} after update: ${e}`));
  }
  if (sched.hasPending()) errors.push(`still pending after ${step} steps`);
  return { steps: step, outcomes, admissions, outputs, errors };
}

/** a strictly before b in the scheduler's order (priority only under the priority policy). */
function less(a: { priority: number; arrival: number }, b: { priority: number; arrival: number }, sched: BatchScheduler): boolean {
  if (sched.policy === 'priority' && a.priority !== b.priority) return a.priority < b.priority;
  return a.arrival < b.arrival;
}
