// --max-num-queued-requests is enforced by the engine at submission, in
// sequences: each of a request's n choices waits as one. A request that
// would take the waiting queue past the bound is refused with
// HIPSERVE_ERR_QUEUE_FULL (the server's 429) and leaves nothing behind.
import t from 'tap';
import { LlmEngine } from '../../src/engine/llm-engine.js';
import type { RequestOutput } from '../../src/engine/types.js';
import { ModelRunner, type ForwardFn } from '../../src/runner/runner.js';
import { createScheduler } from '../../src/scheduler/scheduler.js';
import { letters } from '../helpers/letters.js';


/** A forward that never resolves until release(): what is scheduled stays running, what is not stays waiting. */
function heldForward(): { fwd: ForwardFn; release: () => void } {
  const waiters: (() => void)[] = [];
  let released = false;
  const fwd: ForwardFn = (a) => {
    const S = a.queryStart.length - 1;
    const out = { sampled: new Int32Array(S).fill(1), logprob: new Float32Array(S), topN: 0, topIds: new Int32Array(0), topLogprobs: new Float32Array(0) };
    if (released) return Promise.resolve(out);
    return new Promise((r) => waiters.push(() => { r(out); }));
  };
  return { fwd, release: () => { released = true; for (const w of waiters.splice(0)) w(); } };
}

async function drain(it: AsyncIterable<RequestOutput>): Promise<RequestOutput | undefined> {
  let last: RequestOutput | undefined;
  for await (const o of it) last = o;
  return last;
}

t.test('the queue bound counts sequences (n) and is checked at submission', async (t) => {
  const { fwd, release } = heldForward();
  // One sequence runs at a time; the queue holds at most 3 sequences.
  const scheduler = createScheduler({ numBlocks: 64, blockSize: 4, maxNumBatchedTokens: 64, maxNumSeqs: 1, hashSeed: 'test' });
  const engine = new LlmEngine(
    { name: 'letters', maxModelLen: 64, vocabSize: 26, architecture: 'test', eosTokenIds: [25], isDemo: false, hiddenSize: 8, pooling: 'last' },
    letters, scheduler, new ModelRunner(fwd, 4), { maxNumQueuedRequests: 3, seed: 0, numSchedulerSteps: 1 },
    { info: () => undefined, warn: () => undefined, error: () => undefined },
  );
  t.teardown(() => engine.close());
  const running = drain(engine.generate({ prompt: 'a', params: { maxTokens: 2, ignoreEos: true } }));
  t.equal(engine.stats().numRunning, 1, 'the first request runs');
  const waiting = drain(engine.generate({ prompt: 'b', params: { maxTokens: 2, n: 2, ignoreEos: true } }));
  t.equal(engine.stats().numWaiting, 2, 'n = 2 waits as two sequences');
  t.ok(engine.canAdmit(1), 'one more sequence fits');
  t.notOk(engine.canAdmit(2), 'two do not');
  t.throws(() => engine.generate({ prompt: 'c', params: { maxTokens: 2, n: 2 } }), { code: 'HIPSERVE_ERR_QUEUE_FULL' }, '2 + 2 > 3: refused');
  t.equal(engine.stats().numWaiting, 2, 'the refused request left nothing behind');
  const third = drain(engine.generate({ prompt: 'd', params: { maxTokens: 2, ignoreEos: true } }));
  t.equal(engine.stats().numWaiting, 3, '2 + 1 <= 3: queued');
  t.throws(() => engine.generate({ prompt: 'e', params: { maxTokens: 2 } }), { code: 'HIPSERVE_ERR_QUEUE_FULL' }, 'a full queue refuses even one');
  release();
  for (const r of await Promise.all([running, waiting, third])) t.equal(r?.finished, true, 'every admitted request completes');
  t.equal(engine.stats().kvBlocksUsed, 0);
  t.equal(engine.stats().numWaiting + engine.stats().numRunning, 0);
});
