// Property tests: random arrivals, prompt lengths (with shared prefixes, so
// the prefix cache is hit), priorities, aborts at every phase, tiny pools
// (so preemption and "cannot fit alone" happen), driven to the end. The
// driver (test/helpers/sched.ts) checks at every step: token budget and
// sequence cap, exact tokens/positions/sample flags, block tables against
// ref counts and the free list, a shadow KV cache that every sequence must
// read its own prefix from, victims being the least important running
// request, waiting kept in order and admission from the head only; with
// multi-step outputs, that every lookahead token has its own reserved slot
// and reads its own prefix, and no request passes max_tokens.
import fc from 'fast-check';
import t, { type Test } from 'tap';

import type { SchedPolicy } from '../../src/scheduler/interface.js';
import { checkPool, createScheduler, drive, type DriverEvent } from '../helpers/sched.js';

const BASES = [0, 1, 2].map((k) => Array.from({ length: 64 }, (_, i) => 10_000 * (k + 1) + i));

interface Scenario {
  /** The pool: (largest single request's need) * mult + slack usable blocks, at least 1. */
  mult: number;
  slack: number;
  blockSize: number;
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
  enablePrefixCaching: boolean;
  policy: SchedPolicy;
  /** Steps whose forward fails (garbage KV, then cancelStep). */
  failSteps: number[];
  /** Multi-step outputs asked for (1: never). */
  numSteps: number;
  reqs: {
    step: number;
    base: number;
    shared: number;
    own: number;
    maxTokens: number;
    priority: number;
    abort: { after: number; when: 'before' | 'mid' | 'after' } | null;
  }[];
}

const scenario = (opts: { mult: [number, number] }): fc.Arbitrary<Scenario> =>
  fc.record({
    mult: fc.integer({ min: opts.mult[0], max: opts.mult[1] }),
    slack: fc.integer({ min: -2, max: 6 }),
    blockSize: fc.constantFrom(1, 2, 4, 8),
    maxNumBatchedTokens: fc.integer({ min: 1, max: 48 }),
    maxNumSeqs: fc.integer({ min: 1, max: 6 }),
    enablePrefixCaching: fc.boolean(),
    policy: fc.constantFrom<SchedPolicy>('fcfs', 'priority'),
    failSteps: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 3 }),
    numSteps: fc.constantFrom(1, 1, 2, 4, 8),
    reqs: fc.array(
      fc.record({
        step: fc.integer({ min: 0, max: 12 }),
        base: fc.integer({ min: 0, max: 2 }),
        shared: fc.integer({ min: 0, max: 40 }),
        own: fc.integer({ min: 0, max: 16 }),
        maxTokens: fc.integer({ min: 1, max: 10 }),
        priority: fc.integer({ min: 0, max: 3 }),
        abort: fc.option(fc.record({ after: fc.integer({ min: 0, max: 20 }), when: fc.constantFrom<'before' | 'mid' | 'after'>('before', 'mid', 'after') }), { freq: 4 }),
      }),
      { minLength: 1, maxLength: 10 },
    ),
  });

function events(sc: Scenario): DriverEvent[] {
  // Arrival order = order of addRequest calls = (step, index).
  const sorted = sc.reqs.map((r, i) => ({ ...r, i })).sort((a, b) => a.step - b.step || a.i - b.i);
  return sorted.map((r) => {
    const prompt = [...BASES[r.base].slice(0, r.shared), ...Array.from({ length: r.own }, (_, k) => 100 * (r.i + 1) + k)];
    if (prompt.length === 0) prompt.push(7);
    return {
      step: r.step,
      init: { id: `q${r.i}`, promptTokenIds: prompt, maxTokens: r.maxTokens, priority: r.priority },
      ...(r.abort ? { abortAt: { step: r.step + r.abort.after, when: r.abort.when } } : {}),
    };
  });
}

function run(sc: Scenario): { errs: string[]; preemptions: number; hits: number; bursts: number } {
  const evs = events(sc);
  const maxNeed = Math.max(...evs.map((e) => Math.ceil((e.init.promptTokenIds.length + e.init.maxTokens - 1) / sc.blockSize)));
  const numBlocks = 1 + Math.max(1, maxNeed * sc.mult + sc.slack);
  const sched = createScheduler({
    numBlocks,
    blockSize: sc.blockSize,
    maxNumBatchedTokens: sc.maxNumBatchedTokens,
    maxNumSeqs: sc.maxNumSeqs,
    enablePrefixCaching: sc.enablePrefixCaching,
    policy: sc.policy,
  });
  const res = drive(sched, evs, { maxNumBatchedTokens: sc.maxNumBatchedTokens, maxNumSeqs: sc.maxNumSeqs, maxSteps: 5000, failSteps: new Set(sc.failSteps), numSteps: sc.numSteps, keepOutputs: true });
  const errs = [...res.errors];
  const usable = numBlocks - 1;
  // Every request ended, and failed only if it could never fit alone.
  for (const e of evs) {
    const how = res.outcomes.get(e.init.id);
    const need = Math.ceil((e.init.promptTokenIds.length + e.init.maxTokens - 1) / sc.blockSize);
    if (how === undefined) errs.push(`${e.init.id} never ended`);
    if (how === 'failed' && need <= usable) errs.push(`${e.init.id} failed but needs only ${need} of ${usable} blocks`);
    if (how === 'abort' && e.abortAt === undefined) errs.push(`${e.init.id} aborted without an abort`);
  }
  // Idle: every block free, every ref count 0, nothing held.
  const u = sched.stats().kv;
  if (u.used !== 0 || u.free !== usable) errs.push(`idle pool not empty: ${JSON.stringify(u)}`);
  errs.push(...checkPool(sched).map((e) => `idle: ${e}`));
  // FCFS: first admissions in arrival order.
  if (sc.policy === 'fcfs') {
    const order = new Map(evs.map((e, i) => [e.init.id, i]));
    const seen = new Set<string>();
    let last = -1;
    for (const a of res.admissions) {
      if (seen.has(a.id)) continue;
      seen.add(a.id);
      const i = order.get(a.id) ?? -1;
      if (i < last) errs.push(`FCFS broken: ${a.id} admitted after a later arrival`);
      last = Math.max(last, i);
    }
  }
  const st = sched.stats();
  return { errs, preemptions: st.numPreemptions, hits: st.prefixCacheHits, bursts: res.outputs.filter((o) => o.numSteps > 1).length };
}

/** Runs the property and checks that the scenarios exercised what they are about. */
function check(t: Test, arb: fc.Arbitrary<Scenario>, numRuns: number): { preempting: number; hitting: number; bursting: number } {
  let preempting = 0;
  let hitting = 0;
  let bursting = 0;
  fc.assert(
    fc.property(arb, (sc) => {
      const r = run(sc);
      if (r.errs.length > 0) throw new Error(r.errs.slice(0, 5).join('\n'));
      if (r.preemptions > 0) preempting++;
      if (r.hits > 0) hitting++;
      if (r.bursts > 0) bursting++;
    }),
    { numRuns },
  );
  t.pass(`${numRuns} random scenarios: ${preempting} preempted, ${hitting} hit the prefix cache, ${bursting} ran multi-step outputs`);
  t.ok(bursting >= numRuns / 10, 'multi-step outputs are exercised');
  return { preempting, hitting, bursting };
}

t.test('tiny pools: preemption, aborts, failures; every invariant holds', (t) => {
  const { preempting } = check(t, scenario({ mult: [1, 1] }), 300);
  t.ok(preempting >= 30, 'preemption is exercised, not just possible');
  t.end();
});

t.test('roomy pools: prefix sharing and chunking; every invariant holds', (t) => {
  const { hitting } = check(t, scenario({ mult: [2, 5] }), 200);
  t.ok(hitting >= 20, 'the prefix cache is exercised');
  t.end();
});

t.test('the driver catches what it claims to catch', (t) => {
  // A scheduler whose pool was tampered with must be reported, or the
  // properties above prove nothing.
  const sched = createScheduler({ numBlocks: 8 });
  sched.addRequest({ id: 'a', promptTokenIds: [1, 2, 3, 4, 5], maxTokens: 2 });
  const out = sched.schedule();
  sched.kv.pool.touch([out.seqs[0].blockIds[0]]);
  t.match(checkPool(sched).join('\n'), /ref count 2, tables hold it 1 times/);
  t.end();
});
