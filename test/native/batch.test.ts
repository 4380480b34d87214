// Continuous batching at the native boundary: one step mixing prefill
// chunks and decodes of several sequences, with their KV blocks scattered
// through the pool, must give each sequence the tokens it gets alone; a
// seeded sampled sequence draws the same tokens alone and in any batch.
import t from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import type { Arch } from '../fixtures/models.js';
import { createKvCache, loadModel, releaseKvCache, releaseModel } from '../../src/native.js';
import type { KvCacheHandle, ModelHandle } from '../../src/native.js';
import { generateAlone, newSeq, promptIds, runBatched } from './step-helpers.js';
import type { BatchJob, Sampled, SeqSpec } from './step-helpers.js';

const BS = 8;
const STEPS = 10;


async function open(arch: Arch, format: 'safetensors' | 'gguf'): Promise<{ model: ModelHandle; kv: KvCacheHandle }> {
  const r = await loadModel(await fixtureModel(arch, format));
  if (!r.ok) throw r.error;
  const kv = createKvCache(r.value.handle, { numBlocks: 128, blockSize: BS });
  if (!kv.ok) throw kv.error;
  return { model: r.value.handle, kv: kv.value.handle };
}

const jobs: BatchJob[] = [
  { prompt: promptIds(13, 1), chunk: 64, startStep: 0, spec: { numLogprobs: 0 } },
  { prompt: promptIds(29, 2), chunk: 7, startStep: 0, spec: { numLogprobs: 1 } },
  { prompt: promptIds(5, 3), chunk: 64, startStep: 2, spec: { numLogprobs: 0 } },
  { prompt: promptIds(21, 4), chunk: 9, startStep: 3, spec: { numLogprobs: 2 } },
  // A seeded sampled sequence.
  { prompt: promptIds(11, 5), chunk: 4, startStep: 1, spec: { temperature: 0.9, topK: 40, seed: 0xfeedbeefn, numLogprobs: 0 } },
];

// Blocks interleaved and out of order across the pool (block 0 is the null block).
const scattered = [
  [97, 3, 51, 120, 8, 66],
  [12, 88, 40, 7, 101, 33, 60],
  [70, 25, 110],
  [5, 90, 44, 19, 77],
  [31, 115, 58, 14],
];

for (const [arch, format] of [['llama', 'gguf'], ['qwen3', 'safetensors']] as const) {
  t.test(`${arch} ${format}: a mixed batch gives each sequence its tokens alone`, async (t) => {
    const { model, kv } = await open(arch, format);
    const alone: Sampled[][] = [];
    for (const [i, j] of jobs.entries()) {
      // Alone: other blocks, one-shot prefill.
      const seq = newSeq([1 + 6 * i, 2 + 6 * i, 3 + 6 * i, 4 + 6 * i, 5 + 6 * i, 6 + 6 * i], j.spec);
      alone.push(await generateAlone(model, kv, seq, j.prompt, STEPS, BS));
    }
    const { out: batched, mixed } = await runBatched(model, kv, jobs, scattered, STEPS, BS);
    t.ok(mixed > 0, `${String(mixed)} steps mixed prefill chunks and decodes`);
    for (const [i, j] of jobs.entries()) {
      const a = alone[i] ?? [];
      const b = batched[i] ?? [];
      const kind = j.spec.seed !== undefined ? 'seeded sampled' : 'greedy';
      t.same(b.map((s) => s.token), a.map((s) => s.token), `sequence ${i} (${kind}): same ${STEPS} tokens`);
      const worst = Math.max(...a.map((s, k) => Math.abs(s.logprob - (b.at(k)?.logprob ?? Infinity))), 0);
      t.ok(worst < 1e-3, `sequence ${i}: logprobs within 1e-3 (worst ${worst.toExponential(2)})`);
    }
    releaseKvCache(kv);
    releaseModel(model);
  });
}

t.test('a seed fixes the draw: same seed same tokens, another seed other tokens', async (t) => {
  const { model, kv } = await open('qwen2', 'gguf');
  const prompt = promptIds(9, 8);
  const spec = (seed: bigint): Partial<SeqSpec> => ({ temperature: 1.0, seed });
  const a = await generateAlone(model, kv, newSeq([1, 2, 3], spec(7n)), prompt, 12, BS);
  const b = await generateAlone(model, kv, newSeq([9, 5, 4], spec(7n)), prompt, 12, BS);
  const c = await generateAlone(model, kv, newSeq([20, 21, 22], spec(8n)), prompt, 12, BS);
  t.same(b.map((s) => s.token), a.map((s) => s.token), 'same seed, same tokens');
  t.not(c.map((s) => s.token).join(','), a.map((s) => s.token).join(','), 'another seed draws other tokens');
  releaseKvCache(kv);
  releaseModel(model);
});
