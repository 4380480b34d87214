// Prompt logprobs (echo) from the forward: for every prompt token with a
// target (the prompt token after it), the target's logprob under the raw
// logits and the top N, equal to what the sampler reports when that token
// is the one sampled after the same prefix (forced by a +100 logit bias, so
// greedy picks it; logprobs are of the raw logits either way). Chunked
// prefill gives the same rows; other sequences of the step are untouched.
import t, { type Test } from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import { createKvCache, forward, loadModel } from '../../src/native.js';
import type { KvCacheHandle, ModelHandle, Step, StepOutput } from '../../src/native.js';
import { ownKv, ownModel } from '../helpers/native-handles.js';
import { blockAllocator, buildStep, forwardOk, newSeq, promptIds, type Chunk } from './step-helpers.js';

const BS = 16;
const N = 3;

async function open(t: Test): Promise<{ model: ModelHandle; kv: KvCacheHandle; vocab: number }> {
  const r = await loadModel(await fixtureModel('llama', 'gguf'));
  if (!r.ok) throw r.error;
  const model = ownModel(t, r.value.handle);
  const kv = createKvCache(model, { numBlocks: 512, blockSize: BS });
  if (!kv.ok) throw kv.error;
  return { model, kv: ownKv(t, kv.value.handle), vocab: r.value.info.vocabSize };
}

const blocks = blockAllocator(BS);
const run = forwardOk;

/** A step of chunks where chunk i asks for prompt logprobs of its tokens when nlp[i] >= 0. */
function withTargets(chunks: Chunk[], prompts: number[][], nlp: number[]): Step {
  const s = buildStep(chunks, BS);
  const targets: number[] = [];
  chunks.forEach((c, i) => {
    c.tokens.forEach((_, k) => {
      const at = c.seq.len + k + 1;
      targets.push(nlp[i] >= 0 && at < prompts[i].length ? prompts[i][at] : -1);
    });
  });
  s.promptTargets = Int32Array.from(targets);
  s.numPromptLogprobs = Int32Array.from(nlp);
  return s;
}

interface Row {
  logprob: number;
  rank: number;
  ids: number[];
  lps: number[];
}

function rows(out: StepOutput, from: number, count: number): Row[] {
  const n = out.promptTopN ?? 0;
  return Array.from({ length: count }, (_, k) => ({
    logprob: out.promptLogprob?.[from + k] ?? NaN,
    rank: out.promptRank?.[from + k] ?? -1,
    ids: Array.from(out.promptTopIds?.subarray((from + k) * n, (from + k + 1) * n) ?? []),
    lps: Array.from(out.promptTopLogprobs?.subarray((from + k) * n, (from + k + 1) * n) ?? []),
  }));
}

t.test('each prompt row equals the sampler\'s report for that token after that prefix', async (t) => {
  const { model, kv } = await open(t);
  const prompt = promptIds(37, 5);
  const seq = newSeq(blocks(prompt.length));
  const out = await run(model, kv, withTargets([{ seq, tokens: prompt, doSample: true }], [prompt], [N]));
  t.equal(out.promptTopN, N);
  t.equal(out.promptLogprob?.length, prompt.length, 'one row per token of the step');
  const got = rows(out, 0, prompt.length);
  t.ok(Number.isNaN(got[prompt.length - 1].logprob), 'the last prompt token has no target (its next token is sampled)');
  let worst = 0;
  for (let k = 0; k + 1 < prompt.length; k++) {
    // Reference: the prefix alone, the target forced by a +100 bias; greedy.
    const ref = newSeq(blocks(k + 1), { numLogprobs: N });
    const s = buildStep([{ seq: ref, tokens: prompt.slice(0, k + 1), doSample: true }], BS);
    s.biasTokens = Int32Array.from([prompt[k + 1]]);
    s.biasValues = Float32Array.from([100]);
    s.biasStart = Int32Array.from([0, 1]);
    const r = await run(model, kv, s);
    if (r.sampled[0] !== prompt[k + 1]) t.fail(`prefix ${k + 1}: the bias did not force the target`);
    worst = Math.max(worst, Math.abs(r.logprob[0] - got[k].logprob));
    if (got[k].ids.join() !== Array.from(r.topIds).join()) t.fail(`row ${k}: top ids ${got[k].ids.join()} vs ${Array.from(r.topIds).join()}`);
    got[k].lps.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - r.topLogprobs[j]))));
  }
  t.ok(worst < 1e-5, `logprobs within 1e-5 of the sampler's (worst ${worst.toExponential(2)})`);
  t.ok(got.slice(0, -1).every((r) => r.logprob < 0 && r.ids.length === N && r.lps[0] >= r.lps[N - 1]), 'rows are logprobs, best first');
  // Rank: 1 + the tokens scored above the target; inside the top N it is its place there.
  t.ok(got.slice(0, -1).every((r, k) => {
    const at = r.ids.indexOf(prompt[k + 1]);
    return at >= 0 ? r.rank === at + 1 : r.rank > N && r.lps[N - 1] >= r.logprob;
  }), 'each rank agrees with the top N');
  t.equal(got[prompt.length - 1].rank, 0, 'no rank where no target');
  const ranks = new Set(got.slice(0, -1).map((r) => r.rank));
  t.ok(ranks.size > 5, 'random weights: the ranks spread');
});

t.test('chunked prefill gives the rows one-shot prefill gives; other sequences of the step get none', async (t) => {
  const { model, kv } = await open(t);
  const prompt = promptIds(45, 9);
  const oneShot = rows(await run(model, kv, withTargets([{ seq: newSeq(blocks(45)), tokens: prompt, doSample: true }], [prompt], [2])), 0, 45);
  // In chunks of 16, 16, 13; beside each chunk another sequence prefills without prompt logprobs.
  const seq = newSeq(blocks(45));
  const chunked: Row[] = [];
  for (let a = 0; a < 45; a += 16) {
    const part = prompt.slice(a, a + 16);
    const other = promptIds(7, 100 + a);
    const chunks: Chunk[] = [
      { seq: newSeq(blocks(7)), tokens: other, doSample: true },
      { seq, tokens: part, doSample: a + part.length === 45 },
    ];
    const out = await run(model, kv, withTargets(chunks, [other, prompt], [-1, 2]));
    t.ok(rows(out, 0, 7).every((r) => Number.isNaN(r.logprob) && r.ids.every((id) => id === -1)), `chunk at ${a}: the other sequence's rows are empty`);
    chunked.push(...rows(out, 7, part.length));
    seq.len += part.length;
  }
  t.same(chunked.map((r) => r.ids), oneShot.map((r) => r.ids), 'the same top ids');
  const worst = Math.max(...chunked.map((r, k) => (Number.isNaN(r.logprob) && Number.isNaN(oneShot[k].logprob) ? 0 : Math.abs(r.logprob - oneShot[k].logprob))));
  t.ok(worst < 1e-5, `the same logprobs (worst ${worst.toExponential(2)})`);
  t.ok(Number.isFinite(chunked[15].logprob), 'a chunk\'s last token is scored against the next chunk\'s first');
});

t.test('a step without targets returns no prompt rows; bad targets are INVALID_ARGUMENT', async (t) => {
  const { model, kv, vocab } = await open(t);
  const prompt = promptIds(5, 3);
  const plain = await run(model, kv, buildStep([{ seq: newSeq(blocks(5)), tokens: prompt, doSample: true }], BS));
  t.equal(plain.promptLogprob, undefined, 'no prompt arrays at all');
  const bad = async (mutate: (s: Step) => void, field: RegExp, name: string): Promise<void> => {
    const s = withTargets([{ seq: newSeq(blocks(5)), tokens: prompt, doSample: true }], [prompt], [1]);
    mutate(s);
    const r = await forward(model, kv, s);
    t.equal(r.ok ? 'ok' : r.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', name);
    if (!r.ok) t.match(r.error.message, field, `${name}: names the field`);
  };
  await bad((s) => { if (s.promptTargets) s.promptTargets[0] = vocab; }, /promptTargets/, 'a target past the vocabulary');
  await bad((s) => { s.numPromptLogprobs = Int32Array.from([-1]); }, /promptTargets.*asks for no prompt logprobs/, 'a target for a sequence that asks none');
  await bad((s) => { s.promptTargets = Int32Array.from([1, 2]); }, /promptTargets/, 'targets of the wrong length');
  await bad((s) => { s.numPromptLogprobs = Int32Array.from([5000]); }, /numPromptLogprobs/, 'N past the bound');
  const ok = await forward(model, kv, withTargets([{ seq: newSeq(blocks(5)), tokens: prompt, doSample: true }], [prompt], [0]));
  t.ok(ok.ok && ok.value.promptTopN === 0 && Number.isFinite(ok.value.promptLogprob?.[0] ?? NaN), 'N 0: the target\'s logprob only');
});
