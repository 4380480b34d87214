// The engine over the real native forward and a fixture model: batching,
// prefix caching and preemption must not change what a request generates.
import t, { type Test } from 'tap';
import { assembleEngine } from '../../src/engine/index.js';
import type { LlmEngine } from '../../src/engine/llm-engine.js';
import type { GenerateInput, SamplingParams } from '../../src/engine/types.js';
import { loadTokenizer } from '../../src/models/tokenizer.js';
import * as native from '../../src/native.js';
import { fixtureModel } from '../fixtures/models.js';
import { ownModel } from '../helpers/native-handles.js';
import { nativeGreedy } from '../peer/native-greedy.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Opts {
  numBlocks?: number;
  prefix?: boolean;
  maxNumSeqs?: number;
  maxBatched?: number;
  overlap?: boolean;
}

/** An engine over a fresh load of the model, closed (model and KV pool released) when `t` ends. */
async function engineFor(t: Test, path: string, o: Opts = {}): Promise<LlmEngine> {
  const r = await native.loadModel(path, { device: 'cpu' });
  if (!r.ok) throw r.error;
  let engine: LlmEngine;
  try {
    engine = await assemble(r.value, path, o);
  } catch (err) {
    native.releaseModel(r.value.handle);
    throw err;
  }
  // Closing twice is harmless: the tests close inline, as soon as they are done with an engine.
  t.teardown(() => engine.close());
  return engine;
}

async function assemble(loaded: native.LoadedModel, path: string, o: Opts): Promise<LlmEngine> {
  const tokenizer = await loadTokenizer(path);
  return assembleEngine({
    loaded,
    tokenizer,
    numBlocks: o.numBlocks ?? 256,
    blockSize: 16,
    maxModelLen: 512,
    maxNumSeqs: o.maxNumSeqs ?? 16,
    maxNumBatchedTokens: o.maxBatched ?? 512,
    enablePrefixCaching: o.prefix ?? true,
    maxNumQueuedRequests: 100,
    seed: 0,
    name: 'fixture',
    isDemo: false,
    logger: quiet,
    overlapSteps: o.overlap ?? false,
  });
}

async function tokensOf(engine: LlmEngine, input: GenerateInput): Promise<number[]> {
  const out: number[] = [];
  for await (const o of engine.generate(input)) for (const d of o.deltas) out.push(...d.tokenIds);
  return out;
}

/** Prompts of different lengths (one spans several blocks) as token ids. */
function prompts(vocab: number): number[][] {
  const mk = (n: number, k: number) => Array.from({ length: n }, (_, i) => (i * 7919 + k * 104729) % Math.min(vocab, 30000));
  return [mk(5, 1), mk(23, 2), mk(40, 3), mk(17, 4), mk(70, 5), mk(3, 6)];
}

const greedy: Partial<SamplingParams> = { temperature: 0, maxTokens: 24, ignoreEos: true };

t.test('llama fixture: batching, prefix caching and preemption leave greedy output unchanged', async (t) => {
  const path = await fixtureModel('llama', 'safetensors');
  const ref = await engineFor(t, path, { maxNumSeqs: 1 });
  const ps = prompts(ref.model.vocabSize);
  const alone: number[][] = [];
  for (const p of ps) alone.push(await tokensOf(ref, { prompt: p, params: greedy }));
  await ref.close();
  t.ok(alone.every((a) => a.length === 24), 'every request ran to max_tokens');
  // The native core driven directly, one prompt at a time (its own step
  // builder, not the runner's): the engine must generate exactly that.
  const direct = await native.loadModel(path, { device: 'cpu' });
  if (!direct.ok) throw direct.error;
  ownModel(t, direct.value.handle);
  for (let i = 0; i < ps.length; i++) {
    const g = await nativeGreedy(direct.value.handle, [ps[i]], { steps: 24 });
    t.same(alone[i], g.seqs[0].tokens, `prompt ${i}: the engine's greedy tokens equal the native core's single-sequence run`);
  }
  native.releaseModel(direct.value.handle);
  t.ok(new Set(alone.map((a) => a.join(','))).size > 1, 'different prompts give different continuations');

  // Overlapped steps (next step launched before this one's text work) here.
  const busy = await engineFor(t, path, { overlap: true });
  const together = await Promise.all(ps.map((p) => tokensOf(busy, { prompt: p, params: greedy })));
  t.same(together, alone, 'the same tokens inside a busy batch');
  // A second wave shares prefixes with the first: served from the cache.
  const hitsBefore = busy.stats().prefixCacheHits;
  const again = await Promise.all(ps.map((p) => tokensOf(busy, { prompt: p, params: greedy })));
  t.same(again, alone, 'the same tokens from cached prefix blocks');
  t.ok(busy.stats().prefixCacheHits > hitsBefore, 'the prefix cache was hit');
  t.equal(busy.stats().kvBlocksUsed, 0, 'every block is back when idle');
  await busy.close();

  const noPrefix = await engineFor(t, path, { prefix: false });
  t.same(await Promise.all(ps.map((p) => tokensOf(noPrefix, { prompt: p, params: greedy }))), alone, 'the same tokens without prefix caching');
  await noPrefix.close();

  // 12 usable blocks of 16 tokens cannot hold six sequences of up to 94 tokens: preemption must happen.
  const tiny = await engineFor(t, path, { numBlocks: 13, maxBatched: 64 });
  const squeezed = await Promise.all(ps.map((p) => tokensOf(tiny, { prompt: p, params: greedy })));
  t.ok(tiny.stats().numPreemptions > 0, `preempted ${tiny.stats().numPreemptions} times`);
  t.same(squeezed, alone, 'the same tokens with preemption by recompute and chunked prefill');
  t.equal(tiny.stats().kvBlocksUsed, 0);
  await tiny.close();
});

t.test('qwen3 fixture: a seeded sampled request is the same alone and in a batch', async (t) => {
  const path = await fixtureModel('qwen3', 'safetensors');
  const eng = await engineFor(t, path);
  const ps = prompts(eng.model.vocabSize);
  const sampled: Partial<SamplingParams> = { temperature: 0.9, topP: 0.95, topK: 50, seed: 1234, maxTokens: 20, ignoreEos: true };
  const alone = await tokensOf(eng, { prompt: ps[1], params: sampled });
  const mixed = await Promise.all([
    tokensOf(eng, { prompt: ps[0], params: { temperature: 1, maxTokens: 30, ignoreEos: true } }),
    tokensOf(eng, { prompt: ps[1], params: sampled }),
    tokensOf(eng, { prompt: ps[4], params: { ...greedy, maxTokens: 10 } }),
  ]);
  t.same(mixed[1], alone, 'seeded tokens do not depend on the batch');
  const other = await tokensOf(eng, { prompt: ps[1], params: { ...sampled, seed: 99 } });
  t.not(other.join(','), alone.join(','), 'another seed draws another sequence');
  const n2 = [];
  for await (const o of eng.generate({ prompt: ps[1], params: { ...sampled, n: 2 } })) n2.push(...o.deltas);
  const c0 = n2.filter((d) => d.index === 0).flatMap((d) => d.tokenIds);
  const c1 = n2.filter((d) => d.index === 1).flatMap((d) => d.tokenIds);
  t.not(c0.join(','), c1.join(','), 'n = 2 choices draw different sequences');
  await eng.close();
});

t.test('llama fixture: prompt logprobs are the same alone, chunked, in a busy batch, cached or preempted', async (t) => {
  const path = await fixtureModel('llama', 'gguf');
  const collect = async (engine: LlmEngine, input: GenerateInput) => {
    let prompt: (number | null)[] | null = null;
    let firsts = 0;
    const tokens: number[] = [];
    for await (const o of engine.generate(input)) {
      if (o.promptLogprobs !== undefined) {
        firsts++;
        prompt = o.promptLogprobs.map((e) => (e === null ? null : e.logprob));
        t.ok(o.promptLogprobs.every((e, i) => (i === 0 ? e === null : e?.tokenId === input.prompt[i] && e.top.length === 2)), 'each entry scores its prompt token, with the top 2');
      }
      for (const d of o.deltas) tokens.push(...d.tokenIds);
    }
    t.equal(firsts, 1, 'the prompt logprobs come once, with the first output');
    return { prompt, tokens };
  };
  const params: Partial<SamplingParams> = { ...greedy, maxTokens: 20, promptLogprobs: 2 };
  const ref = await engineFor(t, path);
  const ps = prompts(ref.model.vocabSize);
  const alone: Awaited<ReturnType<typeof collect>>[] = [];
  for (const p of ps) alone.push(await collect(ref, { prompt: p, params }));
  t.ok(alone.every((a, i) => a.prompt?.length === ps[i].length && a.prompt[0] === null && a.prompt.slice(1).every((x) => x !== null && x < 0)), 'one logprob per prompt token after the first');
  // Asking for them changes nothing else.
  t.same(alone.map((a) => a.tokens), await Promise.all(ps.map((p) => tokensOf(ref, { prompt: p, params: { ...greedy, maxTokens: 20 } }))), 'the same generated tokens as without');
  // The same prompts again: their blocks are cached now, yet every position is scored.
  const cached = await Promise.all(ps.map((p) => collect(ref, { prompt: p, params })));
  t.same(cached.map((c) => c.prompt), alone.map((a) => a.prompt), 'the same with the prefix cache warm, all at once');
  await ref.close();
  // Chunked prefill (24 tokens a step) and preemption by recompute (8 usable blocks of 16 tokens).
  const tiny = await engineFor(t, path, { numBlocks: 9, maxBatched: 24 });
  const squeezed = await Promise.all(ps.map((p) => collect(tiny, { prompt: p, params })));
  t.ok(tiny.stats().numPreemptions > 0, `preempted ${tiny.stats().numPreemptions} times`);
  const worst = Math.max(...squeezed.flatMap((s, i) => (s.prompt ?? []).map((x, k) => Math.abs((x ?? 0) - (alone[i].prompt?.[k] ?? 0)))));
  t.ok(worst < 1e-5, `chunked and preempted: the same prompt logprobs (worst ${worst.toExponential(2)})`);
  t.same(squeezed.map((s) => s.tokens), alone.map((a) => a.tokens), 'and the same tokens');
  t.equal(tiny.stats().kvBlocksUsed, 0);
  await tiny.close();
});
