// Loading every fixture architecture and format through src/native.ts: the
// reported info equals the generator's spec, other dtypes and sharded
// checkpoints load and agree with f32, GGUF metadata comes back whole, and
// the KV cache is sized as native/README.md says.
import t, { type Test } from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import { fixtureSpec, vocabSize } from '../../src/models/synth.js';
import {
  createKvCache,
  ggufMetadata,
  kvBytesPerBlock,
  loadModel,
  releaseKvCache,
  releaseModel,
} from '../../src/native.js';
import type { LoadedModel } from '../../src/native.js';
import { ownKv, ownModel } from '../helpers/native-handles.js';
import { generateAlone, newSeq, promptIds } from './step-helpers.js';

/** Loads a model released when `t` ends. */
async function load(t: Test, path: string, opts: Parameters<typeof loadModel>[1] = {}): Promise<LoadedModel> {
  const r = await loadModel(path, opts);
  if (!r.ok) throw r.error;
  ownModel(t, r.value.handle);
  return r.value;
}

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  for (const format of ['safetensors', 'gguf'] as const) {
    t.test(`${arch} ${format}: info matches the fixture spec`, async (t) => {
      const spec = fixtureSpec(arch);
      const m = await load(t, await fixtureModel(arch, format));
      const i = m.info;
      t.equal(i.architecture, arch);
      t.equal(i.format, format);
      t.equal(i.dtype, 'f32');
      t.equal(i.vocabSize, vocabSize(spec));
      t.equal(i.hiddenSize, spec.hiddenSize);
      t.equal(i.numLayers, spec.numLayers);
      t.equal(i.numHeads, spec.numHeads);
      t.equal(i.numKvHeads, spec.numKvHeads);
      t.equal(i.headDim, spec.headDim);
      t.equal(i.intermediateSize, spec.intermediateSize);
      t.equal(i.maxPositionEmbeddings, spec.maxPosition);
      t.equal(i.ropeTheta, spec.ropeTheta);
      t.ok(Math.abs(i.rmsNormEps - spec.rmsEps) < 1e-9);
      t.equal(i.tieWordEmbeddings, spec.tieEmbeddings);
      t.ok(i.eosTokenIds.length > 0 && i.eosTokenIds.every((id) => id >= 0 && id < i.vocabSize));
      t.equal(i.ropeStyle, format === 'gguf' && arch === 'llama' ? 'interleaved' : 'neox');
      t.equal(i.backend, 'cpu');

      t.equal(i.kvCacheDtype, 'f16', 'the CPU keeps an f16 KV cache by default');
      const per = kvBytesPerBlock(m.handle, 16);
      t.same(per, { ok: true, value: 2 * spec.numLayers * spec.numKvHeads * 16 * spec.headDim * 2 }, 'KV bytes per block');
      const kv = createKvCache(m.handle, { numBlocks: 10, blockSize: 16 });
      if (kv.ok) ownKv(t, kv.value.handle);
      t.equal(kv.ok ? kv.value.bytes : -1, per.ok ? per.value * 10 : -2);
      if (kv.ok) t.same(releaseKvCache(kv.value.handle), { ok: true, value: true });
      t.same(releaseModel(m.handle), { ok: true, value: true });
    });
  }
}

t.test('kvCacheDtype: f32 doubles the KV bytes; an unknown name is an error Result', async (t) => {
  const path = await fixtureModel('llama', 'gguf');
  const m = await load(t, path, { kvCacheDtype: 'f32' });
  t.equal(m.info.kvCacheDtype, 'f32');
  const spec = fixtureSpec('llama');
  t.same(kvBytesPerBlock(m.handle, 16), { ok: true, value: 2 * spec.numLayers * spec.numKvHeads * 16 * spec.headDim * 4 });
  const kv = createKvCache(m.handle, { numBlocks: 4, blockSize: 16 });
  if (kv.ok) ownKv(t, kv.value.handle);
  t.equal(kv.ok ? kv.value.bytes : -1, 4 * 2 * spec.numLayers * spec.numKvHeads * 16 * spec.headDim * 4);
  const bad = await loadModel(path, { kvCacheDtype: 'fp8' as 'f16' });
  if (bad.ok) ownModel(t, bad.value.handle);
  t.equal(bad.ok ? 'ok' : bad.error.code, 'HIPSERVE_E_INVALID_ARGUMENT');
  t.match(bad.ok ? '' : bad.error.message, /kvCacheDtype must be 'auto', 'f16' or 'f32'/);
});

t.test('KV cache sizes: too few blocks and an impossible pool are Results', async (t) => {
  const m = await load(t, await fixtureModel('qwen2', 'gguf'));
  const one = createKvCache(m.handle, { numBlocks: 1, blockSize: 16 });
  if (one.ok) ownKv(t, one.value.handle);
  t.equal(one.ok ? 'ok' : one.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', 'block 0 is the null block: at least 2');
  const huge = createKvCache(m.handle, { numBlocks: 1e11, blockSize: 16 });
  if (huge.ok) ownKv(t, huge.value.handle);
  t.equal(huge.ok ? 'ok' : huge.error.code, 'HIPSERVE_E_OUT_OF_MEMORY');
  const frac = kvBytesPerBlock(m.handle, 2.5);
  t.equal(frac.ok ? 'ok' : frac.error.code, 'HIPSERVE_E_INVALID_ARGUMENT');
  t.same(releaseModel(m.handle), { ok: true, value: true });
  const released = createKvCache(m.handle, { numBlocks: 4, blockSize: 16 });
  if (released.ok) ownKv(t, released.value.handle);
  t.equal(released.ok ? 'ok' : released.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', 'a released model');
});

t.test('ggufMetadata returns every key, arrays as arrays, and the tensors', async (t) => {
  const spec = fixtureSpec('qwen3');
  const r = ggufMetadata(await fixtureModel('qwen3', 'gguf'));
  if (!r.ok) throw r.error;
  const md = r.value.metadata;
  t.equal(r.value.version, 3);
  t.equal(md['general.architecture'], 'qwen3');
  t.equal(md['qwen3.block_count'], spec.numLayers);
  const tokens = md['tokenizer.ggml.tokens'];
  t.ok(Array.isArray(tokens) && tokens.length === vocabSize(spec), 'the vocabulary as an array of strings');
  t.ok(Array.isArray(tokens) && typeof tokens[0] === 'string');
  const emb = r.value.tensors.find((x) => x.name === 'token_embd.weight');
  t.same(emb?.shape, [vocabSize(spec), spec.hiddenSize], 'shape in row-major order');
  t.equal(emb?.dtype, 'F32');
  t.notOk(r.value.tensors.some((x) => x.name === 'output.weight'), 'tied: no output.weight');
});

// Lower-precision copies of the same weights: greedy tokens should follow
// the f32 ones (the fixture's lm_head rows are heavy-tailed so the best
// logit stands clear); logprobs within a bound per dtype.
const variants = [
  { format: 'safetensors', dtype: 'f16', sharded: true, bound: 0.05 },
  { format: 'safetensors', dtype: 'bf16', sharded: false, bound: 0.2 },
  { format: 'gguf', dtype: 'f16', sharded: false, bound: 0.05 },
  { format: 'gguf', dtype: 'q8_0', sharded: false, bound: 0.2 },
] as const;
for (const v of variants) {
  t.test(`llama ${v.format} ${v.dtype}${v.sharded ? ' (sharded)' : ''} loads and follows f32`, async (t) => {
    const ref = await load(t, await fixtureModel('llama', v.format));
    const m = await load(t, await fixtureModel('llama', v.format, { dtype: v.dtype, sharded: v.sharded }));
    t.equal(m.info.dtype, v.dtype);
    const kvA = createKvCache(ref.handle, { numBlocks: 8, blockSize: 16 });
    if (kvA.ok) ownKv(t, kvA.value.handle);
    const kvB = createKvCache(m.handle, { numBlocks: 8, blockSize: 16 });
    if (kvB.ok) ownKv(t, kvB.value.handle);
    if (!kvA.ok || !kvB.ok) throw new Error('kv');
    const prompt = promptIds(12, 5);
    const a = await generateAlone(ref.handle, kvA.value.handle, newSeq([1, 2], { numLogprobs: 0 }), prompt, 6, 16);
    const b = await generateAlone(m.handle, kvB.value.handle, newSeq([1, 2], { numLogprobs: 0 }), prompt, 6, 16);
    t.same(b.map((s) => s.token), a.map((s) => s.token), 'same greedy tokens');
    const worst = Math.max(...a.map((s, k) => Math.abs(s.logprob - (b.at(k)?.logprob ?? Infinity))));
    t.ok(worst < v.bound, `logprobs within ${v.bound} of f32 (worst ${worst.toExponential(2)})`);
  });
}

t.test('threads: a model with its own 1-thread pool decodes what the shared pool decodes', async (t) => {
  const path = await fixtureModel('qwen2', 'safetensors');
  const shared = await load(t, path);
  const own = await load(t, path, { threads: 1 });
  t.equal(own.info.threads, 1);
  t.ok(shared.info.threads >= 1);
  const kvA = createKvCache(shared.handle, { numBlocks: 8, blockSize: 16 });
  if (kvA.ok) ownKv(t, kvA.value.handle);
  const kvB = createKvCache(own.handle, { numBlocks: 8, blockSize: 16 });
  if (kvB.ok) ownKv(t, kvB.value.handle);
  if (!kvA.ok || !kvB.ok) throw new Error('kv');
  const prompt = promptIds(17, 9);
  const a = await generateAlone(shared.handle, kvA.value.handle, newSeq([1, 2], { numLogprobs: 0 }), prompt, 6, 16);
  const b = await generateAlone(own.handle, kvB.value.handle, newSeq([3, 4], { numLogprobs: 0 }), prompt, 6, 16);
  t.same(b.map((s) => s.token), a.map((s) => s.token));
  const bad = await loadModel(path, { threads: 2.5 });
  if (bad.ok) ownModel(t, bad.value.handle);
  t.equal(bad.ok ? 'ok' : bad.error.code, 'HIPSERVE_E_INVALID_ARGUMENT');
});
