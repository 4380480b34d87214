// The engine's request logic (stops, n, aborts, min_tokens, failures) over a
// scripted forward, so each rule is checked exactly. The real model runs in
// engine-model.test.ts.
import t from 'tap';
import { EngineError } from '../../src/engine/errors.js';
import type { RequestOutput } from '../../src/engine/types.js';
import { collect, EOS, gen, makeEngine, SentenceGuide, V, type Script } from '../helpers/scripted-engine.js';
import { waitFor } from '../helpers/wait.js';

/** Every rule holds with one step per call and with multi-step calls (numSchedulerSteps). */
const STEPS = [1, 4];

for (const steps of STEPS) t.test(`max_tokens ends with length and exact text (steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [] };
  const { engine } = makeEngine(script, { steps });
  const { outs, choices } = await gen(engine, { prompt: 'abc', params: { maxTokens: 5, temperature: 0 } });
  t.same(choices.get(0), { text: 'defgh', tokens: [3, 4, 5, 6, 7], finish: 'length', stop: null });
  // The prefill samples 'd'; then one burst of 4 (exactly max_tokens' rest).
  t.equal(script.bursts ?? 0, steps > 1 ? 1 : 0, 'decodes ran as one multi-step call');
  t.equal(outs.filter((o) => o.deltas.some((d) => d.tokenIds.length > 0)).length, 5, 'one output per token, a burst included');
  t.equal(outs.at(-1)?.finished, true);
  t.equal(engine.stats().kvBlocksUsed, 0, 'blocks back in the pool');
  await engine.close();
});

for (const [overlap, steps] of [[false, 1], [true, 1], [false, 4], [true, 4]] as const) t.test(`a stop string cuts the text and is never streamed (overlapped steps: ${overlap}, steps per call: ${steps})`, async (t) => {
  const { engine } = makeEngine({ banned: [] }, { overlap, steps });
  const { outs, choices } = await gen(engine, { prompt: 'a', params: { maxTokens: 20, stop: ['efg'] } });
  t.equal(choices.get(0)?.text, 'bcd');
  t.equal(choices.get(0)?.finish, 'stop');
  t.equal(choices.get(0)?.stop, 'efg');
  t.notOk(outs.some((o) => o.deltas.some((d) => d.text.includes('e'))), 'held-back prefix of the stop string never sent');
  const inc = await gen(engine, { prompt: 'a', params: { maxTokens: 20, stop: ['efg'], includeStopStrInOutput: true } });
  t.equal(inc.choices.get(0)?.text, 'bcdefg');
  t.equal(engine.stats().kvBlocksUsed, 0, 'blocks back even when a stop string ends a request during an in-flight step');
  await engine.close();
});

for (const steps of STEPS) t.test(`stop_token_ids and EOS stop; ignore_eos runs on (steps per call: ${steps})`, async (t) => {
  const { engine } = makeEngine({ banned: [] }, { steps });
  const a = await gen(engine, { prompt: 'a', params: { maxTokens: 20, stopTokenIds: [4] } });
  t.same([a.choices.get(0)?.text, a.choices.get(0)?.finish, a.choices.get(0)?.stop], ['bcd', 'stop', 4], "the stop id's text is left out (vLLM)");
  t.same(a.choices.get(0)?.tokens, [1, 2, 3, 4], 'its id is in the output');
  const kept = await gen(engine, { prompt: 'a', params: { maxTokens: 20, stopTokenIds: [4], includeStopStrInOutput: true } });
  t.equal(kept.choices.get(0)?.text, 'bcde', 'include_stop_str_in_output keeps it');
  const b = await gen(engine, { prompt: 'w', params: { maxTokens: 20 } });
  t.same([b.choices.get(0)?.tokens, b.choices.get(0)?.finish], [[23, 24, 25], 'stop'], 'EOS ends the choice');
  t.equal(b.choices.get(0)?.text, 'xy', 'EOS is a special token, skipped in text');
  const shown = await gen(engine, { prompt: 'w', params: { maxTokens: 20, skipSpecialTokens: false } });
  t.equal(shown.choices.get(0)?.text, 'xy', 'and left out with skip_special_tokens false too: it ended the choice');
  const shownKept = await gen(engine, { prompt: 'w', params: { maxTokens: 20, skipSpecialTokens: false, includeStopStrInOutput: true } });
  t.equal(shownKept.choices.get(0)?.text, 'xyz', 'unless include_stop_str_in_output');
  const c = await gen(engine, { prompt: 'w', params: { maxTokens: 5, ignoreEos: true } });
  t.same([c.choices.get(0)?.tokens, c.choices.get(0)?.finish], [[23, 24, 25, 0, 1], 'length']);
  await engine.close();
});

for (const steps of STEPS) t.test(`allowed_token_ids bans every other id at every step (steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [] };
  const { engine } = makeEngine(script, { steps });
  const allowed = [2, 3, 7];
  const outside = Array.from({ length: V }, (_, i) => i).filter((i) => !allowed.includes(i));
  const r = await gen(engine, { prompt: 'a', params: { maxTokens: 6, n: 2, seed: 1, allowedTokenIds: allowed } });
  t.ok(script.banned.length >= 12, `${script.banned.length} sampled steps`);
  t.ok(script.banned.every((b) => b.length === outside.length && b.every((id, k) => id === outside[k])), 'every step banned exactly the ids outside the list');
  for (const c of r.choices.values()) t.ok(c.tokens.every((id) => allowed.includes(id)), `choice tokens ${c.tokens.join(',')} all allowed`);
  t.throws(() => engine.generate({ prompt: 'a', params: { maxTokens: 4, allowedTokenIds: [] } }), /non-empty list/, 'an empty list');
  t.throws(() => engine.generate({ prompt: 'a', params: { maxTokens: 4, allowedTokenIds: [V] } }), /token ids in \[0, 26\)/, 'an id outside the vocabulary');
  t.throws(() => engine.generate({ prompt: 'a', params: { maxTokens: 4, minTokens: 2, allowedTokenIds: [1] } }), /cannot be combined with min_tokens/);
  await engine.close();
});

for (const steps of STEPS) t.test(`min_tokens bans EOS and stop ids until reached (steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [], next: () => EOS };
  const { engine } = makeEngine(script, { steps });
  const r = await gen(engine, { prompt: 'a', params: { maxTokens: 10, minTokens: 3, stopTokenIds: [0] } });
  t.same(script.banned.slice(0, 3), [[EOS, 0], [EOS, 0], [EOS, 0]]);
  // EOS and 0 are banned for three tokens, so the script's EOS becomes 1.
  t.same(r.choices.get(0)?.tokens, [1, 1, 1, EOS], 'three tokens, then EOS is allowed');
  t.same(script.banned[3], [], 'nothing banned once min_tokens is reached');
  await engine.close();
});

for (const steps of STEPS) t.test(`n > 1 gives every choice its own index and finish (steps per call: ${steps})`, async (t) => {
  const { engine } = makeEngine({ banned: [] }, { steps });
  const r = await gen(engine, { prompt: 'abcdefgh', params: { n: 3, maxTokens: 4 } });
  t.same([...r.choices.keys()].sort(), [0, 1, 2]);
  for (const c of r.choices.values()) t.same([c.text, c.finish], ['ijkl', 'length']);
  t.equal(engine.stats().kvBlocksUsed, 0);
  await engine.close();
});

for (const steps of STEPS) t.test(`abort by signal or by leaving the iterator frees the blocks (steps per call: ${steps})`, async (t) => {
  const { engine } = makeEngine({ banned: [], next: (l) => (l + 1) % 20 }, { steps });
  t.teardown(() => engine.close());
  const ac = new AbortController();
  const it = engine.generate({ prompt: 'a', params: { maxTokens: 60, ignoreEos: true }, signal: ac.signal });
  let last: RequestOutput | undefined;
  let n = 0;
  for await (const o of it) {
    last = o;
    if (++n === 3) ac.abort();
  }
  t.equal(last?.deltas.at(-1)?.finishReason, 'abort');
  t.equal(engine.stats().kvBlocksUsed, 0);
  t.equal(engine.stats().numRunning + engine.stats().numWaiting, 0);
  let held = 0;
  for await (const o of engine.generate({ prompt: 'a', params: { maxTokens: 60 } })) {
    t.ok(o.deltas.length > 0);
    held = engine.stats().kvBlocksUsed;
    break;
  }
  t.ok(held > 0, `the request held blocks when the loop left it (${held})`);
  // The abort lands at the next step boundary; wait for it, not a fixed time.
  const idle = (): boolean => engine.stats().kvBlocksUsed === 0 && engine.stats().numRunning + engine.stats().numWaiting === 0;
  await waitFor(idle, 'the abandoned request to be aborted and its blocks freed');
  t.equal(engine.stats().kvBlocksUsed, 0, 'break out of the iterator aborts');
});

for (const steps of STEPS) t.test(`logit_bias reaches every step sorted by token id, each choice the same (steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [], bias: [] };
  const { engine } = makeEngine(script, { steps });
  const { choices } = await gen(engine, { prompt: 'abc', params: { maxTokens: 4, n: 2, temperature: 0, logitBias: { 7: 1.5, 3: -2, 12: 0 } } });
  t.equal(choices.size, 2);
  t.equal(script.bias?.length, 8, 'two choices, four tokens each');
  t.ok(script.bias?.every(([ids, values]) => ids.join() === '3,7,12' && values.join() === '-2,1.5,0'), 'ids ascending, each with its value');
  script.bias = [];
  await gen(engine, { prompt: 'abc', params: { maxTokens: 2, temperature: 0 } });
  t.ok(script.bias.every(([ids]) => ids.length === 0), 'a request without one carries none');
  await engine.close();
});

t.test('bad input is refused synchronously with a code', async (t) => {
  const { engine } = makeEngine({ banned: [] });
  t.throws(() => engine.generate({ prompt: [] }), { code: 'HIPSERVE_ERR_EMPTY_PROMPT' });
  t.throws(() => engine.generate({ prompt: new Array<number>(64).fill(1) }), { code: 'HIPSERVE_ERR_PROMPT_TOO_LONG' });
  t.throws(() => engine.generate({ prompt: [99] }), { code: 'HIPSERVE_ERR_INVALID_TOKEN' });
  t.throws(() => engine.generate({ prompt: 'a', params: { temperature: -1 } }), { code: 'HIPSERVE_ERR_INVALID_PARAM', param: 'temperature' });
  t.throws(() => engine.generate({ prompt: 'a', params: { maxTokens: 64 } }), { code: 'HIPSERVE_ERR_INVALID_PARAM', param: 'max_tokens' });
  t.throws(() => engine.generate({ prompt: 'a', params: { logitBias: { [V]: 1 } } }), { code: 'HIPSERVE_ERR_INVALID_PARAM', param: 'logit_bias' });
  t.throws(() => engine.generate({ prompt: 'a', params: { logitBias: { 2: Number.NaN } } }), { code: 'HIPSERVE_ERR_INVALID_PARAM', param: 'logit_bias' });
  t.throws(() => engine.generate({ prompt: 'a', params: { logitBias: [1] as unknown as Record<number, number> } }), { code: 'HIPSERVE_ERR_INVALID_PARAM', param: 'logit_bias' });
  await engine.close();
});

for (const steps of STEPS) t.test(`a failed forward fails its requests and the engine keeps serving (steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [], fail: true };
  const { engine, logs } = makeEngine(script, { steps });
  const err = await gen(engine, { prompt: 'abc', params: { maxTokens: 3 } }).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof EngineError && err.code === 'HIPSERVE_ERR_NATIVE', 'the iterator throws the native failure');
  t.ok(logs.some((l) => l.includes('native forward failed')));
  script.fail = false;
  const ok = await gen(engine, { prompt: 'abc', params: { maxTokens: 3 } });
  t.equal(ok.choices.get(0)?.text, 'def');
  t.equal(engine.stats().kvBlocksUsed, 0);
  await engine.close();
});

t.test('queue bound, heartbeat and drain', async (t) => {
  const { engine } = makeEngine({ banned: [] }, { maxQueued: 1 });
  t.ok(engine.canAdmit());
  // The first request is scheduled at once and its step is in flight; the
  // second waits behind it.
  const a = collect(engine.generate({ prompt: 'a', params: { maxTokens: 3 } }));
  t.ok(engine.canAdmit(), 'a running request does not count against the queue');
  const b = collect(engine.generate({ prompt: 'b', params: { maxTokens: 3 } }));
  t.notOk(engine.canAdmit(), 'one waiting request fills a queue of one');
  const before = engine.heartbeat().lastStepAt;
  await Promise.all([a, b]);
  t.ok(engine.heartbeat().lastStepAt > before, 'steps move the heartbeat');
  t.equal(engine.heartbeat().pending, false);
  await engine.drain(100);
  t.throws(() => engine.generate({ prompt: 'a' }), { code: 'HIPSERVE_ERR_SHUTTING_DOWN' });
  await engine.close();
});


for (const [overlap, steps] of [[false, 1], [true, 1], [false, 4], [true, 4]] as const) t.test(`a guided choice samples only what its grammar allows, one step a call (overlapped steps: ${overlap}, steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [] };
  const { engine } = makeEngine(script, { overlap, steps });
  const g = new SentenceGuide([7, 3, 9]);
  const plainWhile = gen(engine, { prompt: 'k', params: { maxTokens: 8, ignoreEos: true } });
  const r = await gen(engine, { prompt: 'a', params: { maxTokens: 20 }, guides: [g] });
  t.same([r.choices.get(0)?.tokens, r.choices.get(0)?.finish], [[7, 3, 9, EOS], 'stop'], 'the sentence, then EOS');
  t.same(g.accepted, [7, 3, 9, EOS], 'every sampled token went through the grammar');
  t.equal(g.disposed, 1, 'the guide is disposed once the choice ends');
  t.same((await plainWhile).choices.get(0)?.tokens, [11, 12, 13, 14, 15, 16, 17, 18], 'an unguided neighbour is unaffected');
  const burstsBefore = script.bursts ?? 0;
  const after = await gen(engine, { prompt: 'a', params: { maxTokens: 6 } });
  t.same(after.choices.get(0)?.tokens, [1, 2, 3, 4, 5, 6]);
  t.equal((script.bursts ?? 0) - burstsBefore, steps > 1 ? 1 : 0, 'with no guide left, decodes run as multi-step calls again');
  t.equal(engine.stats().kvBlocksUsed, 0);
  await engine.close();
});

t.test('guides: n of them, disposed on abort, on a refused request and when the grammar rejects a token', async (t) => {
  const { engine, logs } = makeEngine({ banned: [] }, { steps: 4 });
  const two = [new SentenceGuide([2, 2]), new SentenceGuide([4])];
  const r = await gen(engine, { prompt: 'a', params: { maxTokens: 9, n: 2 }, guides: two });
  t.same([r.choices.get(0)?.tokens, r.choices.get(1)?.tokens], [[2, 2, EOS], [4, EOS]], 'each choice its own grammar');
  t.same(two.map((g) => g.disposed), [1, 1]);

  const ctl = new AbortController();
  const long = new SentenceGuide(Array.from({ length: 40 }, () => 5));
  const it = engine.generate({ prompt: 'a', params: { maxTokens: 30 }, guides: [long], signal: ctl.signal });
  const first = await it[Symbol.asyncIterator]().next();
  t.notOk(first.done);
  ctl.abort();
  await waitFor(() => long.disposed === 1, 'the aborted choice\'s guide to be disposed');

  for (const [params, field] of [[{ minTokens: 2 }, 'min_tokens'], [{ ignoreEos: true }, 'ignore_eos'], [{ n: 2 }, 'n']] as const) {
    const g = new SentenceGuide([1]);
    let err: unknown = null;
    try {
      engine.generate({ prompt: 'a', params: { maxTokens: 5, ...params }, guides: [g] });
    } catch (e) {
      err = e;
    }
    t.match(err, { code: 'HIPSERVE_ERR_INVALID_PARAM', param: field }, `${field}: refused`);
    t.equal(g.disposed, 1, `${field}: the guide is disposed`);
  }

  // A grammar that rejects what the step was told it allows (a bug): the choice ends, logged.
  const liar = new SentenceGuide([3]);
  liar.accept = () => false;
  const bad = await gen(engine, { prompt: 'a', params: { maxTokens: 5 }, guides: [liar] });
  t.same([bad.choices.get(0)?.tokens, bad.choices.get(0)?.finish], [[3], 'stop']);
  t.ok(logs.some((l) => /grammar rejected a sampled token/.test(l)), 'logged');
  t.equal(liar.disposed, 1);
  t.equal(engine.stats().kvBlocksUsed, 0);
  await engine.close();
});
