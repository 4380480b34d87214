// bad_words in the engine, over the scripted forward (letters: 'a' is 0 ...
// 'z' is EOS; the script writes the letter after the last one, or the next
// one the step did not ban): one-token words banned at every step of a
// multi-step call, longer ones only right after their beginning (one step
// a call while they are live), with min_tokens, and the refusals.
import t from 'tap';
import { BadWords, badWordSequences, MAX_BAD_WORDS } from '../../src/engine/bad-words.js';
import { EOS, gen, makeEngine, SentenceGuide, type Script } from '../helpers/scripted-engine.js';

const STEPS = [1, 4];

for (const steps of STEPS) t.test(`a one-token word is banned at every step (steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [] };
  const { engine } = makeEngine(script, { steps });
  const r = await gen(engine, { prompt: 'a', params: { maxTokens: 5, badWords: ['c', 'f'] } });
  t.same(r.choices.get(0)?.tokens, [1, 3, 4, 6, 7], 'c and f skipped');
  t.ok(script.banned.every((b) => b.join() === '2,5'), 'every sampled step banned them');
  if (steps > 1) t.ok((script.bursts ?? 0) > 0, 'multi-step calls still ran');
  await engine.close();
});

for (const steps of STEPS) t.test(`a longer word bans its last token right after its beginning (steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [] };
  const { engine } = makeEngine(script, { steps });
  const r = await gen(engine, { prompt: 'a', params: { maxTokens: 6, badWords: ['de'] } });
  t.same(r.choices.get(0)?.tokens, [1, 2, 3, 5, 6, 7], 'd written, e not after it');
  t.same(script.banned.map((b) => b.join()), ['', '', '', '4', '', ''], 'banned only where "d" ended the output');
  t.equal(script.bursts ?? 0, 0, 'one step a call while it is live');
  const e = await gen(engine, { prompt: 'd', params: { maxTokens: 2, badWords: ['de'] } });
  t.same(e.choices.get(0)?.tokens, [4, 5], 'the prompt does not count: e may open the output');
  await engine.close();
});

for (const steps of STEPS) t.test(`with min_tokens: both kinds of bans, and the call ends where min_tokens does (steps per call: ${steps})`, async (t) => {
  const script: Script = { banned: [], next: () => EOS };
  const { engine } = makeEngine(script, { steps });
  const r = await gen(engine, { prompt: 'a', params: { maxTokens: 10, minTokens: 3, badWords: ['b'] } });
  // EOS banned for three tokens wraps to 'a' (0); then EOS is allowed.
  t.same(r.choices.get(0)?.tokens, [0, 0, 0, EOS]);
  t.same(script.banned.map((b) => b.join()), ['1,25', '1,25', '1,25', '1'], 'b always, EOS until min_tokens');
  await engine.close();
});

t.test('refusals name bad_words', async (t) => {
  const { engine } = makeEngine({ banned: [] });
  t.throws(() => engine.generate({ prompt: 'a', params: { badWords: ['   '] } }), { code: 'HIPSERVE_ERR_INVALID_PARAM', param: 'bad_words', message: /is no token/ });
  t.throws(() => engine.generate({ prompt: 'a', params: { badWords: Array.from({ length: MAX_BAD_WORDS + 1 }, () => 'b') } }), { param: 'bad_words', message: /at most 128 words/ });
  t.throws(() => engine.generate({ prompt: 'a', params: { badWords: ['b'], allowedTokenIds: [1, 2] } }), { param: 'bad_words', message: /allowed_token_ids/ });
  t.throws(() => engine.generate({ prompt: 'a', params: { badWords: ['b'] }, guides: [new SentenceGuide([1])] }), { param: 'bad_words', message: /guided output/ });
  t.throws(() => engine.generate({ prompt: 'a', params: { badWords: [7 as unknown as string] } }), { param: 'bad_words', message: /list of strings/ });
  await engine.close();
});

t.test('the spelling with a space is banned too where it is another token of the same count (vLLM\'s rule)', (t) => {
  // A tokenizer where " cat" is one token of its own (id 9) and "cat" another (id 3); " dog" is two tokens.
  const vocab: Record<string, number[]> = { cat: [3], ' cat': [9], dog: [4], ' dog': [8, 4], 'red cat': [5, 9], ' red cat': [10, 9] };
  const tok = { encode: (s: string) => vocab[s] ?? [] };
  t.same(badWordSequences(['cat', ' dog', 'red cat'], tok, 16), [[3], [9], [4], [5, 9], [10, 9]]);
  t.throws(() => badWordSequences(['cat'], { encode: () => [16] }, 16), /outside the model's vocabulary/);
  const bw = new BadWords([[3], [9], [5, 9]]);
  t.same(bw.banned([1, 2]), [3, 9], 'one-token words always');
  t.same(bw.banned([1, 5], [2, 25]), [2, 3, 9, 25], 'with extra bans, a longer word\'s last token once its beginning ends the output (already there)');
  t.ok(bw.conditional);
  t.end();
});
