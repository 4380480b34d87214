// The choice between the addon's two forward entries (src/runner/forward-policy.ts).
import t from 'tap';
import { DEFAULT_SYNC_STEP_MS, ForwardPolicy, syncStepBudgetFromEnv } from '../../src/runner/forward-policy.js';

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
