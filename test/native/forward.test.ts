// The forward pass through src/native.ts over the generated fixtures:
// the same weights as safetensors and as GGUF decode the same tokens,
// chunked prefill equals one-shot prefill, bad steps are INVALID_ARGUMENT
// Results, and one forward runs at a time per model.
import t, { type Test } from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import type { Arch } from '../fixtures/models.js';
import { createKvCache, forward, loadModel, releaseKvCache, releaseModel } from '../../src/native.js';
import type { KvCacheHandle, ModelHandle, NativeModelInfo } from '../../src/native.js';
import { ownKv, ownModel } from '../helpers/native-handles.js';
import { buildStep, generateAlone, newSeq, promptIds } from './step-helpers.js';

const BS = 16;
// Same f32 weights in both files; only the RoPE layout (NEOX on HF rows vs
// interleaved on llama.cpp's permuted rows) and summation order differ, so
// logprobs agree to float rounding. Bound: 1e-4 nats. Compared over an f32
// KV cache: over the default f16 one, a one-ulp f32 difference upstream can
// flip a key's f16 rounding (5e-4 relative), and the tiny random models
// carry that to ~1e-3 nats (seen with the AVX-512 attention, whose dot
// order differs between the two q/k layouts).
const LOGPROB_BOUND = 1e-4;

interface Opened {
  model: ModelHandle;
  kv: KvCacheHandle;
  info: NativeModelInfo;
}

/** A model and its KV pool, both released when `t` ends. */
async function open(t: Test, arch: Arch, format: 'safetensors' | 'gguf', numBlocks = 64, kvCacheDtype: 'auto' | 'f32' = 'auto'): Promise<Opened> {
  const r = await loadModel(await fixtureModel(arch, format), { kvCacheDtype });
  if (!r.ok) throw r.error;
  const model = ownModel(t, r.value.handle);
  const kv = createKvCache(model, { numBlocks, blockSize: BS });
  if (!kv.ok) throw kv.error;
  return { model, kv: ownKv(t, kv.value.handle), info: r.value.info };
}

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  t.test(`${arch}: safetensors and GGUF give the same greedy tokens and logprobs`, async (t) => {
    const st = await open(t, arch, 'safetensors', 64, 'f32');
    const gg = await open(t, arch, 'gguf', 64, 'f32');
    t.equal(st.info.ropeStyle, 'neox');
    t.equal(gg.info.ropeStyle, arch === 'llama' ? 'interleaved' : 'neox');
    const prompt = promptIds(21, 7);
    const a = await generateAlone(st.model, st.kv, newSeq([3, 9, 17], { numLogprobs: 5 }), prompt, 24, BS);
    const b = await generateAlone(gg.model, gg.kv, newSeq([5, 2, 30], { numLogprobs: 5 }), prompt, 24, BS);
    t.same(b.map((s) => s.token), a.map((s) => s.token), 'same 24 greedy tokens');
    let worst = 0;
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const x = a[i], y = b[i];
      t.same(y.topIds, x.topIds, `step ${i}: same top-5 ids`);
      for (let k = 0; k < x.topLogprobs.length; k++) worst = Math.max(worst, Math.abs((x.topLogprobs[k] ?? 0) - (y.topLogprobs[k] ?? 0)));
      worst = Math.max(worst, Math.abs(x.logprob - y.logprob));
    }
    t.ok(worst < LOGPROB_BOUND, `largest logprob difference ${worst.toExponential(2)} < ${LOGPROB_BOUND}`);
    // Greedy picks the top-1 token and reports its logprob.
    t.equal(a[0]?.token, a[0]?.topIds[0]);
    t.ok(Math.abs((a[0]?.logprob ?? 0) - (a[0]?.topLogprobs[0] ?? 1)) < 1e-6);
  });
}

t.test('chunked prefill equals one-shot prefill', async (t) => {
  const m = await open(t, 'qwen3', 'safetensors');
  const prompt = promptIds(37, 11);
  const one = await generateAlone(m.model, m.kv, newSeq([4, 8, 1], { numLogprobs: 3 }), prompt, 8, BS);
  const chunked = await generateAlone(m.model, m.kv, newSeq([30, 12, 20], { numLogprobs: 3 }), prompt, 8, BS, 8);
  const odd = await generateAlone(m.model, m.kv, newSeq([40, 41, 42], { numLogprobs: 3 }), prompt, 8, BS, 5);
  t.same(chunked.map((s) => s.token), one.map((s) => s.token), 'chunks of 8');
  t.same(odd.map((s) => s.token), one.map((s) => s.token), 'chunks of 5 (crossing block edges)');
  for (let i = 0; i < one.length; i++) {
    t.ok(Math.abs((one[i]?.logprob ?? 0) - (chunked[i]?.logprob ?? 1)) < 1e-4, `step ${i} logprob within 1e-4`);
  }
});

t.test('a bad step is an INVALID_ARGUMENT Result and the model keeps working', async (t) => {
  const m = await open(t, 'llama', 'gguf', 8);
  const good = () => buildStep([{ seq: newSeq([1, 2]), tokens: promptIds(5, 3), doSample: true }], BS);
  const cases: [string, (s: ReturnType<typeof good>) => void, RegExp][] = [
    ['token id past the vocabulary', (s) => (s.tokenIds[0] = m.info.vocabSize), /tokenIds/],
    ['negative token id', (s) => (s.tokenIds[1] = -1), /tokenIds/],
    ['block id past the pool', (s) => (s.blockTables[1] = 8), /blockTables/],
    ['slot past the pool', (s) => (s.slotMapping[0] = 8 * BS), /slotMapping/],
    ['slot not matching its block table', (s) => (s.slotMapping[0] = 3 * BS), /slotMapping/],
    ['position past seqLens', (s) => (s.positions[4] = 9), /positions/],
    ['seqLens longer than the block table', (s) => (s.seqLens[0] = 40), /seqLens/],
    ['queryStart not ending at T', (s) => (s.queryStart[1] = 4), /queryStart/],
    ['topP of 0', (s) => (s.topP[0] = 0), /topP/],
    ...(
      [
        ['bias id past the vocabulary', [3, m.info.vocabSize], [1, 1], /biasTokens/],
        ['bias ids out of order', [9, 4], [1, 1], /biasTokens.*strictly increasing/],
        ['bias id twice', [4, 4], [1, 1], /biasTokens.*strictly increasing/],
        ['bias value NaN', [3, 4], [1, NaN], /biasValues.*finite/],
        ['bias value infinite', [3, 4], [-Infinity, 1], /biasValues.*finite/],
        ['fewer bias values than ids', [3, 4], [1], /biasValues/],
      ] as const
    ).map(([name, ids, values, field]): [string, (s: ReturnType<typeof good>) => void, RegExp] => [
      name,
      (s) => {
        s.biasTokens = Int32Array.from(ids);
        s.biasValues = Float32Array.from(values);
        s.biasStart = Int32Array.from([0, ids.length]);
      },
      field,
    ]),
  ];
  for (const [name, mutate, field] of cases) {
    const s = good();
    mutate(s);
    const r = await forward(m.model, m.kv, s);
    t.equal(r.ok, false, name);
    if (!r.ok) {
      t.equal(r.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', name);
      t.match(r.error.message, field, `${name}: names the field`);
      t.ok(r.error instanceof Error && (r.error.stack ?? '').includes('forward.test'), 'stack is the JS caller');
    }
  }
  // Two sequences, the middle offset past T: refused before any index is used.
  const two = buildStep(
    [
      { seq: newSeq([1]), tokens: [5, 6, 7], doSample: true },
      { seq: newSeq([2]), tokens: [8, 9], doSample: true },
    ],
    BS,
  );
  two.queryStart[1] = 40;
  const r2 = await forward(m.model, m.kv, two);
  t.match(r2.ok ? '' : r2.error.message, /queryStart/, 'a middle queryStart past T');
  const short = good();
  const r = await forward(m.model, m.kv, { ...short, positions: new Int32Array(2) });
  t.equal(r.ok ? 'ok' : r.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', 'array of the wrong length');
  t.throws(() => void forward(m.model, m.kv, { ...short, tokenIds: new Float32Array(5) as unknown as Int32Array }), TypeError);
  t.throws(() => void forward(m.kv as unknown as ModelHandle, m.kv, short), TypeError, 'a KV handle is not a model');
  const ok = await forward(m.model, m.kv, good());
  t.equal(ok.ok, true, 'a good step still runs');
});

t.test('one forward at a time per model; released handles are refused', async (t) => {
  const m = await open(t, 'qwen2', 'gguf', 8);
  const step = buildStep([{ seq: newSeq([1]), tokens: [10, 11, 12], doSample: true }], BS);
  const first = forward(m.model, m.kv, step);
  const second = await forward(m.model, m.kv, step);
  t.equal(second.ok ? 'ok' : second.error.code, 'HIPSERVE_E_BUSY', 'the concurrent call gets BUSY');
  t.equal((await first).ok, true, 'the first completes');
  const other = await open(t, 'qwen2', 'gguf', 8);
  const cross = await forward(m.model, other.kv, step);
  t.match(cross.ok ? '' : cross.error.message, /another model/, 'a cache of another model is refused');
  const noSample = buildStep([{ seq: newSeq([2]), tokens: [10, 11], doSample: false }], BS);
  const ns = await forward(m.model, m.kv, noSample);
  t.same(ns.ok ? Array.from(ns.value.sampled) : null, [-1], 'doSample 0 samples nothing');
  releaseModel(m.model);
  const after = await forward(m.model, m.kv, step);
  t.equal(after.ok ? 'ok' : after.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', 'a released model is refused');
  t.same(releaseModel(m.model), { ok: true, value: false }, 'releasing twice is harmless');
});

t.test('random corruptions of a step never crash: ok or INVALID_ARGUMENT', async (t) => {
  const m = await open(t, 'qwen2', 'gguf', 6);
  const base = () => {
    const s = buildStep(
      [
        { seq: newSeq([1, 4]), tokens: promptIds(20, 1), doSample: true },
        { seq: newSeq([3]), tokens: [7], doSample: true },
        { seq: newSeq([5, 2]), tokens: promptIds(3, 2), doSample: false },
      ],
      BS,
    );
    // A logit bias and prompt targets (the first sequence's prefill) to corrupt too.
    s.biasTokens = Int32Array.from([3, 9, 40, 7]);
    s.biasValues = Float32Array.from([1, -2, 100, 0.5]);
    s.biasStart = Int32Array.from([0, 3, 4, 4]);
    s.promptTargets = Int32Array.from([...promptIds(20, 1).slice(1), -1, -1, -1, -1, -1]);
    s.numPromptLogprobs = Int32Array.from([2, -1, -1]);
    return s;
  };
  const fields = [
    'tokenIds', 'positions', 'queryStart', 'seqLens', 'blockTables', 'slotMapping', 'topK', 'numLogprobs', 'sampleIndex',
    'biasTokens', 'biasStart', 'promptTargets', 'numPromptLogprobs',
  ] as const;
  let x = 12345;
  const rnd = (n: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = base();
    const f = fields[rnd(fields.length)] ?? 'tokenIds';
    const arr = s[f];
    if (arr === undefined) throw new Error(`test bug: ${f} is not set`);
    const values = [-1, 0, 1, 5, 15, 16, 17, 23, 95, 96, 1 << 20, m.info.vocabSize, -(2 ** 31), 2 ** 31 - 1];
    arr[rnd(arr.length)] = values[rnd(values.length)] ?? 0;
    const r = await forward(m.model, m.kv, s);
    const code = r.ok ? 'ok' : r.error.code;
    seen.add(code);
    if (code !== 'ok' && code !== 'HIPSERVE_E_INVALID_ARGUMENT') t.fail(`${f}: unexpected ${code}`);
  }
  t.ok(seen.has('HIPSERVE_E_INVALID_ARGUMENT'), 'most corruptions are refused');
  const ok = await forward(m.model, m.kv, base());
  t.equal(ok.ok, true, 'the model still runs a good step');
});

t.test('releasing the model and cache while a forward runs: the forward still completes', async (t) => {
  const m = await open(t, 'llama', 'safetensors', 8);
  const step = buildStep([{ seq: newSeq([1, 2]), tokens: promptIds(20, 4), doSample: true }], BS);
  const pending = forward(m.model, m.kv, step);
  t.same(releaseModel(m.model), { ok: true, value: true });
  t.same(releaseKvCache(m.kv), { ok: true, value: true });
  const r = await pending;
  t.equal(r.ok, true, 'the in-flight step kept the weights and the pool alive');
  t.ok(r.ok && r.value.sampled[0] >= 0);
});
