// Continuous batching on the HIP emulator: one step mixing prefill chunks
// and decodes of several sequences (KV blocks scattered through the pool)
// gives each sequence the tokens it gets alone on hip-emu, and a seeded
// sampled sequence draws exactly the CPU backend's tokens (Philox on the
// device equals the CPU's draws); prompt logprobs equal the CPU's.
import t, { type Test } from 'tap';
import { ownKv, ownModel } from '../helpers/native-handles.js';
import { fixtureModel } from '../fixtures/models.js';
import { createKvCache, forward, loadModel } from '../../src/native.js';
import type { KvCacheHandle, ModelHandle } from '../../src/native.js';
import { buildStep, generateAlone, newSeq, promptIds, runBatched } from '../native/step-helpers.js';
import type { BatchJob, Chunk, SeqSpec } from '../native/step-helpers.js';

const BS = 8;
const STEPS = 8;

/** A model and its KV pool on `device`, both released when `t` ends. */
async function open(t: Test, path: string, device: string): Promise<{ model: ModelHandle; kv: KvCacheHandle }> {
  // kvCacheDtype f32: the HIP kernels read an f32 cache, so the CPU side compared with them keeps one too.
  const r = await loadModel(path, { device, maxBatchedTokens: 64, kvCacheDtype: 'f32' });
  if (!r.ok) throw new Error(`${device}: ${r.error.message}`);
  const model = ownModel(t, r.value.handle);
  const kv = createKvCache(model, { numBlocks: 128, blockSize: BS });
  if (!kv.ok) throw new Error(`${device}: ${kv.error.message}`);
  return { model, kv: ownKv(t, kv.value.handle) };
}

const SEEDED: Partial<SeqSpec> = { temperature: 0.9, topK: 40, topP: 0.95, seed: 0xfeedbeefn, numLogprobs: 0 };
const jobs: BatchJob[] = [
  { prompt: promptIds(13, 1), chunk: 64, startStep: 0, spec: { numLogprobs: 0 } },
  { prompt: promptIds(29, 2), chunk: 7, startStep: 0, spec: { numLogprobs: 1 } },
  { prompt: promptIds(5, 3), chunk: 64, startStep: 2, spec: { numLogprobs: 0 } },
  { prompt: promptIds(11, 5), chunk: 4, startStep: 1, spec: SEEDED },
];
// Interleaved and out of order across the pool (block 0 is the null block).
const scattered = [
  [97, 3, 51, 120, 8],
  [12, 88, 40, 7, 101, 33],
  [70, 25, 110],
  [31, 115, 58, 14],
];

t.test('llama gguf f32 on hip-emu: a mixed batch gives each sequence its tokens alone', async (t) => {
  const path = await fixtureModel('llama', 'gguf');
  const emu = await open(t, path, 'hip-emu');
  const { out, mixed } = await runBatched(emu.model, emu.kv, jobs, scattered, STEPS, BS);
  t.ok(mixed > 0, `${mixed} steps mixed prefill chunks and decodes`);
  for (const [i, j] of jobs.entries()) {
    // Alone: same blocks (the batch's K/V are overwritten), the whole prompt in one chunk.
    const alone = await generateAlone(emu.model, emu.kv, newSeq(scattered[i] ?? [], j.spec), j.prompt, STEPS, BS);
    t.same(
      out[i]?.map((s) => s.token),
      alone.map((s) => s.token),
      `sequence ${i}: batched tokens equal its tokens alone`,
    );
  }
});

t.test('qwen2 safetensors f32: a seeded sampled sequence draws the CPU\'s tokens', async (t) => {
  const path = await fixtureModel('qwen2', 'safetensors');
  const cpu = await open(t, path, 'cpu');
  const emu = await open(t, path, 'hip-emu');
  const prompt = promptIds(9, 21);
  const tokens = async (o: { model: ModelHandle; kv: KvCacheHandle }, seed: bigint): Promise<number[]> =>
    (await generateAlone(o.model, o.kv, newSeq([1, 2, 3], { ...SEEDED, seed }), prompt, 12, BS)).map((s) => s.token);
  const ref = await tokens(cpu, 42n);
  t.same(await tokens(emu, 42n), ref, 'seed 42: the same 12 sampled tokens');
  t.same(await tokens(emu, 7n), await tokens(cpu, 7n), 'seed 7: the same 12 sampled tokens');
  t.not((await tokens(emu, 7n)).join(','), ref.join(','), 'another seed draws other tokens (the draw is not greedy)');
});

t.test('penalties, banned tokens, logit bias and top-N logprobs of the sampling rows only: hip-emu equals cpu', async (t) => {
  // Three sequences in one step: a prefill chunk that does not sample between
  // two that do, each with its own penalty lists, so the device's compaction
  // of the sampling rows and their flat lists is what is checked.
  const path = await fixtureModel('llama', 'safetensors');
  const cpu = await open(t, path, 'cpu');
  const emu = await open(t, path, 'hip-emu');
  const prompts = [promptIds(6, 41), promptIds(12, 42), promptIds(4, 43)];
  const blocks = [[5, 6], [9, 10], [20, 21]];
  const spec: Partial<SeqSpec>[] = [
    { temperature: 0.8, seed: 3n, numLogprobs: 3 },
    { numLogprobs: 3 },
    { temperature: 1.2, topP: 0.9, seed: 11n, numLogprobs: 2 },
  ];
  const run = async (o: { model: ModelHandle; kv: KvCacheHandle }): Promise<{ ids: number[][]; lps: number[] }> => {
    const seqs = blocks.map((b, i) => newSeq(b, spec[i]));
    const chunks = (step: number): Chunk[] =>
      seqs.map((seq, i) => ({ seq, tokens: step === 0 ? (prompts[i] ?? []) : [seq.generated.at(-1) ?? 1], doSample: !(step === 0 && i === 1) }));
    const ids: number[][] = [];
    const lps: number[] = [];
    for (let step = 0; step < 4; step++) {
      const cs = chunks(step);
      const s = buildStep(cs, BS);
      // Penalties on every sequence, each over its own lists.
      const S = cs.length;
      s.presencePenalty = Float32Array.from({ length: S }, (_, i) => 0.5 * i);
      s.frequencyPenalty = Float32Array.from({ length: S }, (_, i) => 0.25 * (S - i));
      s.repetitionPenalty = Float32Array.from({ length: S }, (_, i) => 1 + 0.3 * i);
      const lists = cs.map((c) => c.seq.generated);
      s.outputTokens = Int32Array.from(lists.flat());
      s.outputStart = Int32Array.from([0, ...lists.map((_, i) => lists.slice(0, i + 1).flat().length)]);
      s.promptTokens = Int32Array.from(prompts.flat());
      s.promptStart = Int32Array.from([0, ...prompts.map((_, i) => prompts.slice(0, i + 1).flat().length)]);
      const banned = cs.map((_, i) => [100 + i, 2000 + i]);
      s.bannedTokens = Int32Array.from(banned.flat());
      s.bannedStart = Int32Array.from([0, 2, 4, 6]);
      // logit_bias, ids increasing per sequence; 2001 is banned for seq 1 as well.
      const bias = cs.map((_, i) => [[7 + i, 4], [300 + i, -2], [1500 + 3 * i, 6], [2001, 3]]);
      s.biasTokens = Int32Array.from(bias.flatMap((b) => b.map(([id]) => id)));
      s.biasValues = Float32Array.from(bias.flatMap((b) => b.map(([, v]) => v)));
      s.biasStart = Int32Array.from([0, 4, 8, 12]);
      const r = await forward(o.model, o.kv, s);
      if (!r.ok) throw r.error;
      const out = r.value;
      cs.forEach((c, i) => {
        c.seq.len += c.tokens.length;
        if (c.doSample) c.seq.generated.push(out.sampled[i] ?? -1);
      });
      ids.push([...out.sampled, ...out.topIds]);
      lps.push(...out.logprob, ...out.topLogprobs);
    }
    return { ids, lps };
  };
  const ref = await run(cpu);
  const dev = await run(emu);
  t.same(dev.ids, ref.ids, 'sampled ids and top-N ids equal the CPU\'s over 4 steps');
  const worst = Math.max(...dev.lps.map((x, i) => (Object.is(x, ref.lps[i]) ? 0 : Math.abs(x - (ref.lps[i] ?? NaN)))));
  t.ok(worst < 1e-3, `logprobs within 1e-3 (worst ${worst.toExponential(2)})`);
  t.equal(ref.ids[0]?.[1], -1, 'the prefill chunk that does not sample gets -1');
});

t.test('prompt logprobs (echo) on hip-emu equal the CPU\'s, rows past one lm_head chunk included', async (t) => {
  const path = await fixtureModel('llama', 'gguf');
  const cpu = await open(t, path, 'cpu');
  const emu = await open(t, path, 'hip-emu');
  // 40 prompt tokens with targets (two 32-row chunks on the device) beside
  // a 9-token prefill that asks for none.
  const a = promptIds(41, 61);
  const b = promptIds(9, 62);
  const run = async (o: { model: ModelHandle; kv: KvCacheHandle }) => {
    const chunks: Chunk[] = [
      { seq: newSeq([4, 90, 17, 60, 33, 101]), tokens: a, doSample: true },
      { seq: newSeq([8, 77]), tokens: b, doSample: true },
    ];
    const s = buildStep(chunks, BS);
    s.promptTargets = Int32Array.from([...a.map((_, k) => a[k + 1] ?? -1), ...b.map(() => -1)]);
    s.numPromptLogprobs = Int32Array.from([4, -1]);
    const r = await forward(o.model, o.kv, s);
    if (!r.ok) throw r.error;
    return r.value;
  };
  const ref = await run(cpu);
  const dev = await run(emu);
  t.equal(dev.promptTopN, 4);
  t.same(Array.from(dev.promptTopIds ?? []), Array.from(ref.promptTopIds ?? []), 'the same top-4 ids on every row');
  // Ranks over f32 logits that differ by float rounding (~1e-5): equal, or
  // off by the few tokens whose logits lie that close to the target's; the
  // middle of a 32k vocabulary is dense, so the bound grows with the rank.
  const rankGap = Math.max(...Array.from(dev.promptRank ?? []).map((x, i) => Math.abs(x - (ref.promptRank?.[i] ?? 0)) - (ref.promptRank?.[i] ?? 0) / 1000));
  t.ok(rankGap <= 2, `the same vocab ranks, within near-ties (largest excess ${rankGap.toFixed(1)})`);
  t.ok((dev.promptRank ?? []).some((x) => x > 4), 'ranks past the top 4 too');
  const lp = (o: typeof ref) => [...(o.promptLogprob ?? []), ...(o.promptTopLogprobs ?? [])];
  const r = lp(ref);
  const worst = Math.max(...lp(dev).map((x, i) => (Object.is(x, r[i]) || (Number.isNaN(x) && Number.isNaN(r[i])) ? 0 : Math.abs(x - r[i]))));
  t.ok(worst < 1e-3, `logprobs within 1e-3 (worst ${worst.toExponential(2)})`);
  t.equal(Array.from(dev.promptLogprob ?? []).filter((x) => Number.isFinite(x)).length, 40, '40 rows with a target, the rest NaN');
  t.same(Array.from(dev.sampled), Array.from(ref.sampled), 'and the sampled tokens');
});
