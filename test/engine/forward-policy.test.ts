// The choice between the addon's two forward entries (src/runner/forward-policy.ts).
import t from 'tap';
import { DEFAULT_SYNC_STEP_MS, ForwardPolicy, syncStepBudgetFromEnv } from '../../src/runner/forward-policy.js';
import { MAX_AUTO_STEPS } from '../../src/runner/runner.js';

t.test('a step is predicted from the last one, scaled up by its tokens, never down', (t) => {
  const p = new ForwardPolicy(10);
  t.equal(p.predict(1), Infinity, 'no prediction before the first step');
  t.equal(p.sync(1), false, 'so the first step goes async');
  p.record(4, 2);
  t.equal(p.predict(4), 2);
  t.equal(p.predict(1), 2, 'fewer tokens: the last time, not less');
  t.equal(p.predict(20), 10, 'five times the tokens: five times the time');
  t.equal(p.sync(20), true, 'at the budget: sync');
  t.equal(p.sync(21), false, 'past it: async');
  p.record(512, 400);
  t.equal(p.sync(1), false, 'after a long prefill the next step goes async');
  p.record(1, 3);
  t.equal(p.sync(1), true, 'and the one after it, measured short, sync again');
  const off = new ForwardPolicy(0);
  off.record(1, 0.001);
  t.equal(off.sync(1), false, 'budget 0: never');
  t.end();
});

t.test('multi-step calls: as many steps as the budget holds, timed per step', (t) => {
  const p = new ForwardPolicy(10);
  t.equal(p.steps(1, 8), 1, 'no prediction yet: one step');
  p.record(1, 2.4);
  t.equal(p.steps(1, 8), 4, '10 ms holds four 2.4 ms steps');
  t.equal(p.steps(1, 3), 3, 'never more than asked');
  t.equal(p.steps(8, 8), 1, 'a step of 8 tokens is predicted at 19.2 ms: one');
  t.equal(p.sync(1, 4), true, 'four steps fit the budget: sync');
  t.equal(p.sync(1, 5), false, 'five do not');
  p.record(1, 12, 4);
  t.equal(p.predict(1), 3, 'a 4-step call of 12 ms is 3 ms a step');
  t.equal(p.steps(1, 8), 3);
  t.equal(new ForwardPolicy(0).steps(1, 8), 1, 'no budget: one step');
  t.end();
});

/**
 * The calls test/native/forward-sync.test.ts's step-runner test makes (two
 * prompts of 30 and 12 tokens prefilled one per call, then 11 decode steps
 * of both, grouped as the engine groups them), each call's native time given
 * by `msPerStep`: which entry each call takes and how the decode steps group.
 */
function replay(budgetMs: number, msPerStep: number): { entries: { sync: number; async: number }; decodeCalls: number[] } {
  const p = new ForwardPolicy(budgetMs);
  const entries = { sync: 0, async: 0 };
  const call = (tokens: number, steps: number): void => {
    entries[p.sync(tokens, steps) ? 'sync' : 'async']++;
    p.record(tokens, msPerStep * steps, steps);
  };
  call(30, 1);
  call(12, 1);
  const decodeCalls: number[] = [];
  for (let done = 0; done < 11; ) {
    const k = Math.min(11 - done, p.steps(2, MAX_AUTO_STEPS));
    call(2, k);
    decodeCalls.push(k);
    done += k;
  }
  return { entries, decodeCalls };
}

t.test('the step runner over a short run: entries and decode grouping from injected step times', (t) => {
  const budget = 1000 * MAX_AUTO_STEPS;
  t.same(replay(budget, 5), { entries: { sync: 3, async: 1 }, decodeCalls: [8, 3] }, 'short steps: only the first call async; 8 + 3 decode steps');
  t.same(replay(budget, 1000), { entries: { sync: 3, async: 1 }, decodeCalls: [8, 3] }, 'the same up to a second a step');
  t.same(replay(budget, 1001), { entries: { sync: 3, async: 1 }, decodeCalls: [7, 4] }, 'past budget / 8 a step, the grouping changes');
  t.same(replay(1000, 200), { entries: { sync: 4, async: 1 }, decodeCalls: [5, 5, 1] }, '200 ms steps in a 1 s budget: five a call');
  t.same(replay(1000, 2000), { entries: { sync: 0, async: 13 }, decodeCalls: Array<number>(11).fill(1) }, 'steps past the budget: async, one a call');
  t.same(replay(0, 5), { entries: { sync: 0, async: 13 }, decodeCalls: Array<number>(11).fill(1) }, 'budget 0: async, one a call');
  t.end();
});

t.test('HIPSERVE_SYNC_STEP_MS', (t) => {
  t.equal(syncStepBudgetFromEnv({}), DEFAULT_SYNC_STEP_MS, 'unset: the default');
  t.equal(syncStepBudgetFromEnv({ HIPSERVE_SYNC_STEP_MS: ' ' }), DEFAULT_SYNC_STEP_MS, 'blank: the default');
  t.equal(syncStepBudgetFromEnv({ HIPSERVE_SYNC_STEP_MS: '0' }), 0);
  t.equal(syncStepBudgetFromEnv({ HIPSERVE_SYNC_STEP_MS: '2.5' }), 2.5);
  for (const bad of ['-1', 'fast', 'Infinity']) {
    t.throws(() => syncStepBudgetFromEnv({ HIPSERVE_SYNC_STEP_MS: bad }), /HIPSERVE_SYNC_STEP_MS must be a number of milliseconds >= 0/, bad);
  }
  t.end();
});
