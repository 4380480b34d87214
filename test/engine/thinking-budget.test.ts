// thinking_token_budget in the engine, over the scripted forward (letters:
// 't' = 19 opens a block, 'e' = 4 closes it unless a test says otherwise;
// 'k' = 10 is the model thinking on): the budget's count, the forced
// closing tag, multi-token tags, a block opened by the prompt, the bans the
// forced step carries and the multi-step calls around it.
import t from 'tap';
import { ThinkingBudget } from '../../src/engine/thinking-budget.js';
import { gen, makeEngine, SentenceGuide, V, type Script } from '../helpers/scripted-engine.js';

const T = 19;
const E = 4;
const K = 10;
const STEPS = [1, 4];
const tags = (tokens: number, end: number[] = [E]) => ({ tokens, start: [T], end });
const allBut = (id: number): number[] => Array.from({ length: V }, (_, i) => i).filter((i) => i !== id);

for (const steps of STEPS) t.test(`a block the prompt opened closes after the budget (steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [], next: () => K };
  const { engine } = makeEngine(script, { steps });
  const r = await gen(engine, { prompt: 'at', params: { maxTokens: 7, thinkingBudget: tags(3) } });
  t.same(r.choices.get(0)?.tokens, [K, K, K, E, K, K, K], 'three thoughts, the closing tag forced, then the answer');
  const forcedSteps = script.banned.filter((b) => b.length === V - 1);
  t.same(forcedSteps, [allBut(E)], 'one step banned everything but the closing tag');
  if (steps > 1) t.ok((script.bursts ?? 0) > 0, 'multi-step calls still ran around it');

  const zero = await gen(engine, { prompt: 'at', params: { maxTokens: 3, thinkingBudget: tags(0) } });
  t.same(zero.choices.get(0)?.tokens, [E, K, K], 'a budget of 0 closes the block at once');
  const spent = await gen(engine, { prompt: 'atkkkk', params: { maxTokens: 3, thinkingBudget: tags(2) } });
  t.same(spent.choices.get(0)?.tokens, [E, K, K], 'thoughts already in the prompt count');
  const closed = await gen(engine, { prompt: 'atke', params: { maxTokens: 4, thinkingBudget: tags(0) } });
  t.same(closed.choices.get(0)?.tokens, [K, K, K, K], 'a block the prompt closed is not forced');
  t.equal(engine.stats().kvBlocksUsed, 0);
  await engine.close();
});

for (const steps of STEPS) t.test(`a block the model opens is counted from its tag; one that closes in time is left alone (steps per call: ${steps})`, async (t) => {
  const { engine } = makeEngine({ banned: [], next: (last) => (last === 0 ? T : K) }, { steps });
  const r = await gen(engine, { prompt: 'a', params: { maxTokens: 8, n: 2, seed: 3, thinkingBudget: tags(2) } });
  for (const c of r.choices.values()) t.same(c.tokens, [T, K, K, E, K, K, K, K], 'each choice has its own budget');

  // t k k e, then the model writes thoughts and tags again: only the first block is limited.
  const seq = [T, K, E, K, T, K, K, K, K];
  let i = 0;
  const free = makeEngine({ banned: [], next: () => seq[i++] }, { steps });
  const f = await gen(free.engine, { prompt: 'a', params: { maxTokens: seq.length, thinkingBudget: tags(3) } });
  t.same(f.choices.get(0)?.tokens, seq, 'nothing forced: the first block closed within the budget');
  await free.engine.close();
  await engine.close();
});

for (const steps of STEPS) t.test(`a closing tag of several tokens is forced whole, from where the text left it (steps per call: ${steps})`, async (t) => {
  const { engine } = makeEngine({ banned: [], next: () => K }, { steps });
  const two = await gen(engine, { prompt: 'at', params: { maxTokens: 5, thinkingBudget: tags(2, [E, 5]) } });
  t.same(two.choices.get(0)?.tokens, [K, K, E, 5, K], 'e then f');
  await engine.close();

  // The model itself writes the tag's first token as the budget runs out: only the rest is forced.
  const seq = [K, E, 22, 22];
  let i = 0;
  const half = makeEngine({ banned: [], next: () => seq[i++] }, { steps });
  const h = await gen(half.engine, { prompt: 'at', params: { maxTokens: 4, thinkingBudget: tags(2, [E, 5]) } });
  t.same(h.choices.get(0)?.tokens, [K, E, 5, 22], 'f alone');
  await half.engine.close();
});

t.test('a grammar that rejects the closing tag wins over the budget', async (t) => {
  const { engine } = makeEngine({ banned: [] }, { steps: 4 });
  const guide = new SentenceGuide([K, K, K]);
  const r = await gen(engine, { prompt: 'at', params: { maxTokens: 9, thinkingBudget: tags(1) }, guides: [guide] });
  t.same(r.choices.get(0)?.tokens, [K, K, K, 25], 'the grammar\'s sentence, the tag never forced');
  t.equal(r.choices.get(0)?.finish, 'stop');
  await engine.close();
});

t.test('bad budgets are refused with the field named', async (t) => {
  const { engine } = makeEngine({ banned: [] });
  t.throws(() => engine.generate({ prompt: 'a', params: { thinkingBudget: tags(-1) } }), { code: 'HIPSERVE_ERR_INVALID_PARAM', param: 'thinking_token_budget' });
  t.throws(() => engine.generate({ prompt: 'a', params: { thinkingBudget: { tokens: 2, start: [], end: [E] } } }), /non-empty lists of token ids/);
  t.throws(() => engine.generate({ prompt: 'a', params: { thinkingBudget: { tokens: 2, start: [T], end: [V] } } }), /token ids in \[0, 26\)/);
  await engine.close();
});

t.test('ThinkingBudget alone: free steps before each forced token', (t) => {
  const b = new ThinkingBudget(tags(2), [0], V);
  const out: number[] = [];
  const book = (budget: ThinkingBudget, tok: number): void => {
    out.push(tok);
    budget.book(out);
  };
  t.equal(b.freeSteps(), 3, 'before a block: its tag and the budget');
  book(b, T);
  t.equal(b.freeSteps(), 2);
  book(b, K);
  book(b, K);
  t.equal(b.freeSteps(), 0);
  t.equal(b.forced(), E);
  t.same(b.forcedBans(), allBut(E));
  book(b, E);
  t.equal(b.forced(), null);
  t.equal(b.freeSteps(), Infinity, 'done: nothing more is forced');
  const overridden = new ThinkingBudget(tags(0), [T], V);
  t.equal(overridden.forced(), E);
  out.length = 0;
  book(overridden, K);
  t.equal(overridden.forced(), null, 'another token than the forced one ends the forcing');
  t.end();
});
