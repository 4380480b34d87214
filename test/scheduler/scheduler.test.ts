// Exact tests: given requests, the exact seqs, block ids and queue orders.
import t from 'tap';

import type { SchedulerOutput } from '../../src/scheduler/interface.js';
import { createRequests, createScheduler } from '../helpers/sched.js';

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** The seqs in a compact, printable form. */
function brief(out: SchedulerOutput): { id: string; start: number; n: number; blocks: readonly number[]; sample: boolean }[] {
  return out.seqs.map((s) => ({ id: s.requestId, start: s.startPos, n: s.numTokens, blocks: s.blockIds, sample: s.sample }));
}

/** update() sampling `tok` for every seq that samples. */
function step(s: ReturnType<typeof createScheduler>, tok = 7): SchedulerOutput {
  const out = s.schedule();
  s.update(out, out.seqs.map((q) => (q.sample ? tok : -1)));
  return out;
}

t.test('chunked prefill: a long prompt takes several steps, then decodes', (t) => {
  const s = createScheduler({ maxNumBatchedTokens: 8 });
  s.addRequest({ id: 'a', promptTokenIds: range(0, 20), maxTokens: 4 });
  t.same(brief(step(s)), [{ id: 'a', start: 0, n: 8, blocks: [1, 2], sample: false }]);
  t.same(s.getRequest('a')?.outputTokenIds, [], 'no token from a chunk that does not end the prompt');
  t.same(brief(step(s)), [{ id: 'a', start: 8, n: 8, blocks: [1, 2, 3, 4], sample: false }]);
  const last = step(s, 42);
  t.same(brief(last), [{ id: 'a', start: 16, n: 4, blocks: [1, 2, 3, 4, 5], sample: true }]);
  t.same(last.seqs[0].tokenIds, range(16, 4));
  t.same(s.getRequest('a')?.outputTokenIds, [42]);
  const dec = step(s, 43);
  t.same(brief(dec), [{ id: 'a', start: 20, n: 1, blocks: [1, 2, 3, 4, 5, 6], sample: true }]);
  t.same(dec.seqs[0].tokenIds, [42], 'a decode computes the last sampled token');
  t.same([dec.seqs[0].numOutputTokens, dec.seqs[0].numPromptTokens], [1, 0]);
  t.equal(s.getRequest('a')?.numComputedTokens, 21);
  t.end();
});

t.test('running first, then waiting in chunks within the token budget', (t) => {
  const s = createScheduler({ maxNumBatchedTokens: 10 });
  s.addRequest({ id: 'a', promptTokenIds: range(0, 6), maxTokens: 4 });
  s.addRequest({ id: 'b', promptTokenIds: range(100, 12), maxTokens: 4 });
  const o1 = step(s);
  t.same(brief(o1), [
    { id: 'a', start: 0, n: 6, blocks: [1, 2], sample: true },
    { id: 'b', start: 0, n: 4, blocks: [3], sample: false },
  ]);
  t.equal(o1.numBatchedTokens, 10);
  const o2 = step(s);
  t.same(brief(o2), [
    { id: 'a', start: 6, n: 1, blocks: [1, 2], sample: true },
    { id: 'b', start: 4, n: 8, blocks: [3, 4, 5], sample: true },
  ]);
  t.equal(o2.numBatchedTokens, 9);
  t.end();
});

t.test('the sequence cap holds newcomers back until a seat frees', (t) => {
  const s = createScheduler({ maxNumSeqs: 2 });
  for (const r of createRequests(3, { promptLen: 4 })) s.addRequest(r);
  t.same(step(s).seqs.map((q) => q.requestId), ['r0', 'r1']);
  t.equal(s.numWaiting(), 1);
  t.ok(s.finish('r0', 'stop'));
  t.same(step(s).seqs.map((q) => q.requestId), ['r1', 'r2']);
  t.end();
});

t.test('preemption by recompute: the latest arrival goes to the head of waiting', (t) => {
  const s = createScheduler({ numBlocks: 5 }); // 4 usable blocks of 4 tokens
  s.addRequest({ id: 'a', promptTokenIds: range(0, 7), maxTokens: 10 });
  s.addRequest({ id: 'b', promptTokenIds: range(100, 7), maxTokens: 10 });
  t.same(brief(step(s, 1)), [
    { id: 'a', start: 0, n: 7, blocks: [1, 2], sample: true },
    { id: 'b', start: 0, n: 7, blocks: [3, 4], sample: true },
  ]);
  s.addRequest({ id: 'c', promptTokenIds: range(200, 3), maxTokens: 10 });
  t.same(brief(step(s, 2)).map((q) => q.blocks), [[1, 2], [3, 4]], 'position 7 still fits; c waits for blocks');
  t.same(s.queues().waiting, ['c']);
  // Position 8 opens a third block for both: a takes one, b is preempted.
  const o3 = s.schedule();
  t.same(o3.preempted, ['b']);
  t.same(brief(o3), [{ id: 'a', start: 8, n: 1, blocks: [1, 2, 4], sample: true }], "b's tail block 4 is reused first");
  t.same(s.queues(), { waiting: ['b', 'c'], running: ['a'] }, 'the victim is at the head, before c');
  const b = s.getRequest('b');
  t.same([b?.status, b?.numComputedTokens, b?.numPreemptions], ['waiting', 0, 1]);
  t.same(b?.outputTokenIds, [1, 2], 'its output survives the preemption');
  t.same(s.stats().numPreemptions, 1);
  s.update(o3, [3]);
  s.finish('a', 'stop');
  // b recomputes prompt + output; block 3 (its first full block) is still cached.
  const o4 = s.schedule();
  t.same(brief(o4), [
    { id: 'b', start: 4, n: 5, blocks: [3, 4, 2], sample: true },
    { id: 'c', start: 0, n: 3, blocks: [1], sample: true },
  ]);
  t.same(o4.seqs[0].tokenIds, [104, 105, 106, 1, 2]);
  t.same([o4.seqs[0].numOutputTokens, o4.seqs[0].numPromptTokens], [2, 3]);
  t.equal(s.getRequest('b')?.numCachedTokens, 4);
  t.end();
});

t.test('a step that preempts admits nobody', (t) => {
  const s = createScheduler({ numBlocks: 4 }); // 3 usable
  s.addRequest({ id: 'a', promptTokenIds: range(0, 4), maxTokens: 10 });
  s.addRequest({ id: 'b', promptTokenIds: range(100, 4), maxTokens: 10 });
  step(s); // a [1], b [2]
  s.addRequest({ id: 'c', promptTokenIds: range(200, 1), maxTokens: 10 });
  const o = s.schedule(); // a takes 3, b needs one more: preempts itself (it is the latest)
  t.same(o.preempted, ['b']);
  t.same(o.seqs.map((q) => q.requestId), ['a'], 'c is not admitted although a block is free');
  t.same(s.queues().waiting, ['b', 'c']);
  t.end();
});

t.test('priority policy: waiting ordered by (priority, arrival), the head blocks the rest', (t) => {
  const s = createScheduler({ numBlocks: 4, policy: 'priority', maxNumBatchedTokens: 64 });
  s.addRequest({ id: 'low', promptTokenIds: range(0, 8), maxTokens: 10, priority: 5 });
  step(s); // low holds [1, 2]
  s.addRequest({ id: 'x', promptTokenIds: range(100, 2), maxTokens: 10, priority: 1 });
  s.addRequest({ id: 'y', promptTokenIds: range(200, 2), maxTokens: 10, priority: 0 });
  s.addRequest({ id: 'z', promptTokenIds: range(300, 2), maxTokens: 10, priority: 1 });
  t.same(s.queues().waiting, ['y', 'x', 'z']);
  const o = s.schedule(); // low needs a 3rd block (position 8): takes 3; y cannot be admitted
  t.same(brief(o), [{ id: 'low', start: 8, n: 1, blocks: [1, 2, 3], sample: true }]);
  s.update(o, [1]);
  s.finish('low', 'abort');
  const o2 = s.schedule();
  t.same(o2.seqs.map((q) => q.requestId), ['y', 'x', 'z']);
  t.same(brief(o2).map((q) => q.blocks), [[3], [2], [1]], "low's table [1, 2, 3] was freed tail first");
  t.end();
});

t.test('priority policy preempts the largest priority value even if it came first', (t) => {
  const s = createScheduler({ numBlocks: 4, policy: 'priority' });
  s.addRequest({ id: 'old-low', promptTokenIds: range(0, 4), maxTokens: 10, priority: 9 });
  s.addRequest({ id: 'new-high', promptTokenIds: range(100, 8), maxTokens: 10, priority: 0 });
  t.same(s.queues().waiting, ['new-high', 'old-low']);
  const o1 = step(s);
  t.same(brief(o1).map((q) => [q.id, q.blocks]), [['new-high', [1, 2]], ['old-low', [3]]]);
  const o2 = s.schedule(); // new-high at position 8 needs a block: old-low goes
  t.same(o2.preempted, ['old-low']);
  t.same(brief(o2), [{ id: 'new-high', start: 8, n: 1, blocks: [1, 2, 3], sample: true }]);
  t.end();
});

t.test('a victim already scheduled in this step gives back its turn, and nobody is skipped', (t) => {
  const s = createScheduler({ numBlocks: 5, policy: 'priority' }); // 4 usable
  s.addRequest({ id: 'low', promptTokenIds: range(0, 3), maxTokens: 10, priority: 5 });
  step(s); // low [1]
  s.addRequest({ id: 'high', promptTokenIds: range(100, 4), maxTokens: 10, priority: 0 });
  s.addRequest({ id: 'mid', promptTokenIds: range(200, 3), maxTokens: 10, priority: 1 });
  t.same(brief(step(s)).map((q) => [q.id, q.blocks]), [['low', [1]], ['high', [2]], ['mid', [3]]]);
  // low (first in running) takes the last free block for position 4; then
  // high needs one too: low is the victim although it was scheduled already.
  const o = s.schedule();
  t.same(o.preempted, ['low']);
  t.same(brief(o), [
    { id: 'high', start: 4, n: 1, blocks: [2, 4], sample: true },
    { id: 'mid', start: 3, n: 1, blocks: [3], sample: true },
  ]);
  t.equal(o.numBatchedTokens, 2, "low's token is not counted");
  t.same(s.queues(), { waiting: ['low'], running: ['high', 'mid'] });
  t.end();
});

t.test('n > 1 siblings share the prompt blocks through the cache', (t) => {
  const s = createScheduler();
  const prompt = range(0, 9);
  for (const id of ['s0', 's1', 's2']) s.addRequest({ id, promptTokenIds: prompt, maxTokens: 4 });
  const o1 = step(s);
  t.same(brief(o1), [{ id: 's0', start: 0, n: 9, blocks: [1, 2, 3], sample: true }], 'siblings wait for the first');
  const o2 = step(s);
  t.same(brief(o2), [
    { id: 's0', start: 9, n: 1, blocks: [1, 2, 3], sample: true },
    { id: 's1', start: 8, n: 1, blocks: [1, 2, 4], sample: true },
    { id: 's2', start: 8, n: 1, blocks: [1, 2, 5], sample: true },
  ]);
  t.same([1, 2, 3, 4, 5].map((b) => s.kv.pool.refCount(b)), [3, 3, 1, 1, 1]);
  const st = s.stats();
  t.same([st.prefixCacheQueries, st.prefixCacheHits], [27, 16]);
  t.end();
});

t.test('without prefix caching siblings compute the prompt each', (t) => {
  const s = createScheduler({ enablePrefixCaching: false });
  for (const id of ['s0', 's1']) s.addRequest({ id, promptTokenIds: range(0, 9), maxTokens: 4 });
  t.same(brief(step(s)).map((q) => [q.id, q.n, q.blocks]), [['s0', 9, [1, 2, 3]], ['s1', 9, [4, 5, 6]]]);
  t.same([s.stats().prefixCacheQueries, s.stats().prefixCacheHits], [0, 0]);
  t.end();
});

t.test('aborts free blocks at once wherever the request is', (t) => {
  t.test('waiting', (t) => {
    const s = createScheduler({ maxNumSeqs: 1 });
    for (const r of createRequests(2)) s.addRequest(r);
    step(s);
    t.ok(s.finish('r1', 'abort'));
    t.equal(s.getRequest('r1'), undefined);
    t.same(s.queues().waiting, []);
    t.notOk(s.finish('r1', 'abort'), 'a second abort is a no-op');
    t.end();
  });
  t.test('prefilling, inside the step being computed', (t) => {
    const s = createScheduler({ maxNumBatchedTokens: 8 });
    s.addRequest({ id: 'a', promptTokenIds: range(0, 20), maxTokens: 4 });
    const o = s.schedule();
    t.same(o.seqs[0].blockIds, [1, 2]);
    t.ok(s.finish('a', 'abort'));
    t.same(s.stats().kv, { total: 63, used: 0, cachedFree: 0, free: 63 }, 'freed before the forward returns');
    s.update(o, [-1]);
    t.same(s.stats().kv.cachedFree, 0, 'blocks of an aborted step are never cached');
    t.notOk(s.hasPending());
    s.addRequest({ id: 'b', promptTokenIds: range(0, 20), maxTokens: 4 });
    t.same(s.schedule().seqs[0].startPos, 0, 'so nobody hits them');
    t.end();
  });
  t.test('decoding', (t) => {
    const s = createScheduler();
    s.addRequest({ id: 'a', promptTokenIds: range(0, 9), maxTokens: 4 });
    step(s);
    step(s);
    t.ok(s.finish('a', 'abort'));
    t.same(s.stats().kv, { total: 63, used: 0, cachedFree: 2, free: 63 }, 'full computed blocks stay cached');
    t.end();
  });
  t.test('finished by the engine after update (stop string), then scheduling goes on', (t) => {
    const s = createScheduler();
    for (const r of createRequests(2)) s.addRequest(r);
    step(s);
    s.finish('r0', 'stop');
    t.same(step(s).seqs.map((q) => q.requestId), ['r1']);
    t.end();
  });
  t.test('replaced by a new request under the same id during the step', (t) => {
    const s = createScheduler();
    s.addRequest({ id: 'a', promptTokenIds: range(0, 5), maxTokens: 4 });
    const o = s.schedule();
    s.finish('a', 'abort');
    s.addRequest({ id: 'a', promptTokenIds: range(50, 3), maxTokens: 4 });
    s.update(o, [9]);
    t.same([s.getRequest('a')?.numComputedTokens, s.getRequest('a')?.outputTokenIds], [0, []]);
    t.end();
  });
  t.end();
});

t.test('a request that cannot fit alone fails with a reason, others go on', (t) => {
  const s = createScheduler({ numBlocks: 3 }); // 2 usable blocks = 8 tokens
  s.addRequest({ id: 'big', promptTokenIds: range(0, 9), maxTokens: 4 });
  s.addRequest({ id: 'ok', promptTokenIds: range(100, 8), maxTokens: 4 });
  const o1 = s.schedule();
  t.same(o1.failed.map((f) => f.requestId), ['big']);
  t.match(o1.failed[0].reason, /needs 3 KV blocks for 9 tokens, but the cache has 2 blocks of 4 tokens .*cannot fit alone/);
  t.equal(s.getRequest('big'), undefined);
  t.same(brief(o1), [{ id: 'ok', start: 0, n: 8, blocks: [1, 2], sample: true }]);
  s.update(o1, [1]);
  const o2 = s.schedule(); // decode at position 8 needs a 3rd block: alone, it can never fit
  t.same(o2.seqs, []);
  t.same(o2.failed.map((f) => f.requestId), ['ok']);
  t.same(o2.preempted, []);
  t.same(s.stats().kv.used, 0);
  t.notOk(s.hasPending());
  s.update(o2, []);
  t.end();
});

t.test('a failed forward is cancelled: nothing advances, nothing is cached, the work is offered again', (t) => {
  const s = createScheduler();
  s.addRequest({ id: 'a', promptTokenIds: range(0, 9), maxTokens: 4 });
  const o = s.schedule();
  s.cancelStep(o);
  t.same([s.getRequest('a')?.numComputedTokens, s.stats().kv.used], [0, 3], 'it keeps its blocks');
  t.equal(s.kv.pool.hashOf(1), undefined, 'blocks of a failed step are not cached');
  const again = s.schedule();
  t.same(brief(again), brief(o));
  t.throws(() => {
    s.cancelStep(o);
  }, /in flight is 2/);
  s.update(again, [5]);
  t.same(s.getRequest('a')?.outputTokenIds, [5]);
  s.finish('a', 'abort');
  t.same(s.stats().kv, { total: 63, used: 0, cachedFree: 2, free: 63 });
  t.end();
});

t.test('a sampling seq that got no token (-1) is left as it was and offered again', (t) => {
  const s = createScheduler();
  s.addRequest({ id: 'a', promptTokenIds: range(0, 9), maxTokens: 4 });
  const o = s.schedule();
  s.update(o, [-1]);
  t.same([s.getRequest('a')?.numComputedTokens, s.getRequest('a')?.outputTokenIds], [0, []]);
  t.equal(s.stats().kv.cachedFree + (s.kv.pool.hashOf(1) === undefined ? 0 : 1), 0, 'nothing cached');
  t.same(brief(s.schedule()), brief(o));
  t.end();
});

t.test('protocol misuse throws', (t) => {
  const s = createScheduler();
  s.addRequest({ id: 'a', promptTokenIds: [1], maxTokens: 1 });
  t.throws(() => {
    s.addRequest({ id: 'a', promptTokenIds: [1], maxTokens: 1 });
  }, /already/);
  t.throws(() => {
    s.addRequest({ id: 'e', promptTokenIds: [], maxTokens: 1 });
  }, /empty prompt/);
  const o = s.schedule();
  t.throws(() => s.schedule(), /before update/);
  t.throws(() => {
    s.update({ ...o, stepId: o.stepId + 1 }, [1]);
  }, /in flight/);
  t.throws(() => {
    s.update(o, []);
  }, /sampled tokens/);
  s.update(o, [1]);
  t.throws(() => {
    s.update(o, [1]);
  }, /none/, 'an output is applied once');
  t.throws(() => createScheduler({ maxNumSeqs: 0 }), RangeError);
  t.end();
});

t.test('multi-step: granted only to an all-decode step with nobody waiting, slots reserved ahead', (t) => {
  const s = createScheduler({ numBlocks: 64, blockSize: 4 });
  s.addRequest({ id: 'a', promptTokenIds: range(0, 6), maxTokens: 10 });
  const pre = s.schedule({ numSteps: 4 });
  t.equal(pre.numSteps, 1, 'a prefill step is one step');
  s.update(pre, [50]);
  s.addRequest({ id: 'b', promptTokenIds: range(0, 3), maxTokens: 3 });
  const mixed = s.schedule({ numSteps: 4 });
  t.equal(mixed.numSteps, 1, 'not while a request waits (it is admitted instead)');
  t.same(
    mixed.seqs.map((q) => q.maxSteps),
    [1, 1],
  );
  s.update(mixed, [51, 60]);
  const burst = s.schedule({ numSteps: 4 });
  t.equal(burst.numSteps, 4);
  t.same(brief(burst).map((q) => [q.id, q.start, q.n, q.sample]), [
    ['a', 7, 1, true],
    ['b', 3, 1, true],
  ]);
  t.same(
    burst.seqs.map((q) => q.maxSteps),
    [4, 2],
    'b has 2 of its 3 max_tokens left',
  );
  t.equal(burst.seqs[0].blockIds.length, Math.ceil((7 + 4) / 4), 'a holds slots for its 4 tokens');
  t.equal(burst.seqs[1].blockIds.length, Math.ceil((3 + 2) / 4), 'b for its 2');
  // Rows of S, step-major; b stopped after its 2 tokens.
  s.update(burst, [52, 61, 53, 62, 54, -1, 55, -1]);
  t.same(s.getRequest('a')?.outputTokenIds, [50, 51, 52, 53, 54, 55]);
  t.same(s.getRequest('b')?.outputTokenIds, [60, 61, 62]);
  t.same([s.getRequest('a')?.numComputedTokens, s.getRequest('b')?.numComputedTokens], [11, 5]);
  t.equal(s.schedule().numSteps, 1, 'no numSteps, one step');
  t.end();
});

t.test('multi-step: a short pool gives what it can, then falls back to one step', (t) => {
  // 5 usable blocks of 4 tokens.
  const s = createScheduler({ numBlocks: 6, blockSize: 4 });
  s.addRequest({ id: 'a', promptTokenIds: range(0, 7), maxTokens: 100 });
  s.addRequest({ id: 'b', promptTokenIds: range(100, 7), maxTokens: 100 });
  s.update(s.schedule(), [1, 2]);
  t.equal(s.stats().kv.used, 4);
  const o = s.schedule({ numSteps: 4 });
  t.equal(o.numSteps, 4);
  t.same(
    o.seqs.map((q) => q.maxSteps),
    [4, 1],
    'a took the last free block for its lookahead; b still fits its next token',
  );
  s.update(o, [3, 4, 5, -1, 6, -1, 7, -1]);
  t.same([s.getRequest('a')?.numComputedTokens, s.getRequest('b')?.numComputedTokens], [11, 8]);
  // b's next token needs a block: the pool has none, so the step goes the
  // one-step way (which preempts).
  const next = s.schedule({ numSteps: 4 });
  t.equal(next.numSteps, 1);
  t.same(next.preempted, ['b']);
  t.end();
});
