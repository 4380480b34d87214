// Embedding requests through the engine over the real forward: each pooling
// equals the same pooling of the rows one whole-prompt forward returns,
// whether the prompt is chunked, shares steps with generating requests or is
// served partly from the prefix cache; generation beside them is unchanged;
// aborts free the blocks; a request that cannot be an embedding is refused.
import t, { type Test } from 'tap';
import { assembleEngine } from '../../src/engine/index.js';
import type { LlmEngine } from '../../src/engine/llm-engine.js';
import type { FinishedRequestInfo, GenerateInput, PoolingType, RequestOutput } from '../../src/engine/types.js';
import { loadTokenizer } from '../../src/models/tokenizer.js';
import * as native from '../../src/native.js';
import { fixtureModel } from '../fixtures/models.js';
import { ownKv, ownModel } from '../helpers/native-handles.js';
import { buildStep, newSeq, promptIds } from '../native/step-helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const H = 64;

async function engineFor(t: Test, path: string, maxBatched: number, prefix = true, numBlocks = 64, numSchedulerSteps: number | 'auto' = 'auto'): Promise<LlmEngine> {
  const r = await native.loadModel(path, { device: 'cpu' });
  if (!r.ok) throw r.error;
  const engine = assembleEngine({
    loaded: r.value,
    tokenizer: await loadTokenizer(path),
    numBlocks,
    blockSize: 16,
    maxModelLen: 256,
    maxNumSeqs: 8,
    maxNumBatchedTokens: maxBatched,
    enablePrefixCaching: prefix,
    maxNumQueuedRequests: 100,
    seed: 0,
    name: 'fixture',
    isDemo: false,
    logger: quiet,
    numSchedulerSteps,
  });
  t.teardown(() => engine.close());
  return engine;
}

/** What each pooling gives from the rows of one whole-prompt forward (a fresh load and pool). */
async function reference(t: Test, path: string, prompt: number[]): Promise<Record<PoolingType, Float32Array>> {
  const r = await native.loadModel(path, { device: 'cpu' });
  if (!r.ok) throw r.error;
  const model = ownModel(t, r.value.handle);
  const kv = native.createKvCache(model, { numBlocks: 32, blockSize: 16 });
  if (!kv.ok) throw kv.error;
  ownKv(t, kv.value.handle);
  const step = buildStep([{ seq: newSeq(Array.from({ length: 20 }, (_, i) => i + 1)), tokens: prompt, doSample: false }], 16);
  step.embedRows = Uint8Array.from([2]);
  const out = await native.forward(model, kv.value.handle, step);
  if (!out.ok) throw out.error;
  const rows = out.value.hidden ?? new Float32Array(0);
  const mean = new Float32Array(H);
  for (let d = 0; d < H; d++) {
    let s = 0;
    for (let i = 0; i < prompt.length; i++) s += rows[i * H + d];
    mean[d] = s / prompt.length;
  }
  return { last: rows.slice((prompt.length - 1) * H), mean, cls: rows.slice(0, H), none: rows.slice() };
}

async function outputs(engine: LlmEngine, input: GenerateInput): Promise<RequestOutput[]> {
  const all: RequestOutput[] = [];
  for await (const o of engine.generate(input)) all.push(o);
  return all;
}

async function embed(engine: LlmEngine, prompt: number[], pooling: PoolingType): Promise<Float32Array> {
  const outs = await outputs(engine, { prompt, embed: { pooling } });
  if (outs.length !== 1 || !outs[0].finished) throw new Error(`an embedding gave ${outs.length} outputs`);
  const e = outs[0].embedding;
  if (e === undefined) throw new Error('no embedding');
  return e;
}

const maxDiff = (a: Float32Array, b: Float32Array): number => (a.length !== b.length ? Infinity : a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0));

t.test('each pooling equals the whole-prompt rows, chunked, batched and cached', async (t) => {
  const path = await fixtureModel('qwen3', 'safetensors');
  const prompt = promptIds(45, 21);
  const ref = await reference(t, path, prompt);
  // 16-token steps: the 45-token prompt runs in three chunks.
  const engine = await engineFor(t, path, 16);
  for (const pooling of ['last', 'mean', 'cls', 'none'] as const) {
    const e = await embed(engine, prompt, pooling);
    t.equal(e.length, pooling === 'none' ? prompt.length * H : H, `${pooling}: ${pooling === 'none' ? 'every token\'s' : 'hiddenSize'} values`);
    t.ok(maxDiff(e, ref[pooling]) < 1e-5, `${pooling}: chunked equals one shot (${maxDiff(e, ref[pooling]).toExponential(2)})`);
  }
  t.equal(engine.model.hiddenSize, H);

  // Beside generating requests, each in its own steps' company.
  const gen = { prompt: promptIds(30, 4), params: { maxTokens: 12, temperature: 0 } };
  const alone = (await outputs(engine, gen)).flatMap((o) => o.deltas.flatMap((d) => d.tokenIds));
  const [together, ...vecs] = await Promise.all([
    outputs(engine, gen).then((os) => os.flatMap((o) => o.deltas.flatMap((d) => d.tokenIds))),
    embed(engine, prompt, 'mean'),
    embed(engine, prompt, 'last'),
    embed(engine, prompt, 'cls'),
  ]);
  t.same(together, alone, 'generation beside embeddings is unchanged');
  t.ok(maxDiff(vecs[0], ref.mean) < 1e-5 && maxDiff(vecs[1], ref.last) < 1e-5 && maxDiff(vecs[2], ref.cls) < 1e-5, 'batched embeddings unchanged');

  // 'last' may use the prefix cache (the blocks of the first requests are cached by now).
  const outs = await outputs(engine, { prompt, embed: { pooling: 'last' } });
  t.ok(outs[0].numCachedTokens > 0, `the prefix cache served ${outs[0].numCachedTokens} tokens`);
  t.ok(maxDiff(outs[0].embedding ?? new Float32Array(0), ref.last) < 1e-5, 'and the vector is the same');
  t.same(outs[0].deltas, [{ index: 0, text: '', tokenIds: [], logprobs: null, finishReason: 'stop', stopReason: null }], 'one empty final delta');
});

t.test('metrics, aborts and refusals', async (t) => {
  const path = await fixtureModel('qwen3', 'safetensors');
  const engine = await engineFor(t, path, 8);
  const finished: FinishedRequestInfo[] = [];
  engine.setEvents({ onRequestFinished: (i) => finished.push(i) });
  const prompt = promptIds(40, 9);
  await embed(engine, prompt, 'mean');
  t.equal(finished.length, 1);
  t.match(finished[0], { finishReason: 'stop', promptTokens: 40, generationTokens: 0, ttftS: null });

  // Aborted half-way through its chunks: nothing comes back, every block is free again.
  const ac = new AbortController();
  const it = engine.generate({ prompt, embed: { pooling: 'mean' }, signal: ac.signal });
  setTimeout(() => { ac.abort(); }, 0);
  const got: RequestOutput[] = [];
  for await (const o of it) got.push(o);
  t.ok(got.length <= 1, 'at most the final output');
  if (got.length === 1) t.ok(got[0].embedding !== undefined || got[0].deltas[0]?.finishReason === 'abort');
  t.equal(engine.stats().kvBlocksUsed, 0, 'no block is held');

  t.throws(() => engine.generate({ prompt, params: { n: 2 }, embed: { pooling: 'last' } }), { code: 'HIPSERVE_ERR_INVALID_PARAM' }, 'n > 1');
  t.throws(() => engine.generate({ prompt: [], embed: { pooling: 'last' } }), 'an empty prompt');
  t.throws(() => engine.generate({ prompt: promptIds(300, 1), embed: { pooling: 'last' } }), 'a prompt longer than the context');
  const full = await embed(engine, promptIds(256, 2), 'last');
  t.equal(full.length, H, 'a prompt that fills the context is embedded (nothing is generated)');
  t.throws(() => engine.generate({ prompt: promptIds(256, 2) }), { code: 'HIPSERVE_ERR_PROMPT_TOO_LONG' }, 'generating from it is not');
});

t.test('an embedding preempted half-way computes its prompt again and pools the same vector', async (t) => {
  const path = await fixtureModel('qwen3', 'safetensors');
  const prompt = promptIds(100, 13);
  const ref = await reference(t, path, prompt);
  // 7 usable blocks of 16 tokens (block 0 is the null block) and 4-token
  // steps: the generating request (priority 0) grows to 100 tokens, 7
  // blocks, while the embedding (priority 1, 100 tokens, 7 blocks) takes
  // its prompt 3 tokens a step beside it, so it is preempted half-way and runs again
  // once the generation is done.
  const engine = await engineFor(t, path, 4, false, 8);
  const [done, mean] = await Promise.all([
    outputs(engine, { prompt: promptIds(20, 6), params: { maxTokens: 80, temperature: 0, ignoreEos: true } }),
    outputs(engine, { prompt, embed: { pooling: 'mean' }, params: { priority: 1 } }),
  ]);
  t.ok(engine.stats().numPreemptions > 0, `preempted ${engine.stats().numPreemptions} time(s)`);
  t.equal(done.flatMap((o) => o.deltas.flatMap((d) => d.tokenIds)).length, 80, 'the generation ran to its end');
  const e = mean[0].embedding ?? new Float32Array(0);
  t.ok(maxDiff(e, ref.mean) < 1e-5, `the mean equals the one-shot rows' (${maxDiff(e, ref.mean).toExponential(2)})`);
});

t.test('an embedding never joins a multi-step call, and a one-step prompt fills the prefix cache', async (t) => {
  const path = await fixtureModel('qwen3', 'safetensors');
  // 16-token steps and 4 decode steps a call: a 16-token embedding arriving
  // beside a decoding request gets 15 tokens, then its last one alone, which
  // looks like a decode (found by review: the burst then failed both requests).
  const engine = await engineFor(t, path, 16, true, 64, 4);
  const genInput = { prompt: promptIds(5, 4), params: { maxTokens: 60, temperature: 0, ignoreEos: true } };
  const alone = (await outputs(engine, genInput)).flatMap((o) => o.deltas.flatMap((d) => d.tokenIds));
  const prompt = promptIds(16, 9);
  const ref = await reference(t, path, prompt);
  const gen = outputs(engine, genInput);
  await new Promise((r) => setTimeout(r, 30));
  const [g, e] = await Promise.all([gen, outputs(engine, { prompt, embed: { pooling: 'mean' } })]);
  t.same(g.flatMap((o) => o.deltas.flatMap((d) => d.tokenIds)), alone, 'the generation beside it is unchanged');
  t.ok(maxDiff(e[0].embedding ?? new Float32Array(0), ref.mean) < 1e-5, 'and the embedding is right');

  // A prompt in one step: its full blocks are cached when it ends, so 'last' reuses them.
  const one = await engineFor(t, path, 256);
  const p45 = promptIds(45, 17);
  const first = await outputs(one, { prompt: p45, embed: { pooling: 'last' } });
  const again = await outputs(one, { prompt: p45, embed: { pooling: 'last' } });
  t.equal(first[0].numCachedTokens, 0);
  t.equal(again[0].numCachedTokens, 32, 'the second finds the first\'s two full blocks');
  t.same(again[0].embedding, first[0].embedding, 'and gives the same vector');
  t.equal(one.stats().kvBlocksUsed, 0, 'no block held');
});
