// Hidden states from the forward (embedRows, for embeddings): the rows are
// the final-normed states the lm_head reads (checked by pushing them through
// the fixture's own lm_head, read from its safetensors file, against the
// forward's prompt logprobs of the same tokens); mode 1 is mode 2's last
// row; a chunked prompt, a batch with sampling sequences and the hip-emu
// device give the same rows; bad embedRows are error Results.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import { createKvCache, forward, loadModel } from '../../src/native.js';
import type { KvCacheHandle, ModelHandle, Step } from '../../src/native.js';
import { ownKv, ownModel } from '../helpers/native-handles.js';
import { blockAllocator, buildStep, forwardOk, newSeq, promptIds, type Chunk } from './step-helpers.js';

const BS = 16;
const H = 64; // the fixtures' hidden size

async function open(t: Test, device?: 'hip-emu' | 'cpu-f32-kv'): Promise<{ model: ModelHandle; kv: KvCacheHandle; vocab: number; dir: string }> {
  const dir = await fixtureModel('qwen3', 'safetensors');
  // The device keeps its KV in f32: the CPU compared with it does too.
  const r = await loadModel(dir, device === undefined ? {} : device === 'hip-emu' ? { device } : { kvCacheDtype: 'f32' });
  if (!r.ok) throw r.error;
  const model = ownModel(t, r.value.handle);
  const kv = createKvCache(model, { numBlocks: 128, blockSize: BS });
  if (!kv.ok) throw kv.error;
  return { model, kv: ownKv(t, kv.value.handle), vocab: r.value.info.vocabSize, dir };
}

const blocks = blockAllocator(BS);
const run = forwardOk;

function embedStep(chunks: Chunk[], modes: number[]): Step {
  const s = buildStep(chunks, BS);
  s.embedRows = Uint8Array.from(modes);
  return s;
}

/** The tied embedding matrix of the f32 safetensors fixture (its lm_head). */
function lmHead(dir: string): Float32Array {
  const buf = readFileSync(join(dir, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const e = header['model.embed_tokens.weight'];
  const [a, b] = e.data_offsets;
  const bytes = buf.subarray(8 + n + a, 8 + n + b);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function logSoftmaxAt(x: Float32Array, i: number): number {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let z = 0;
  for (const v of x) z += Math.exp(v - m);
  return x[i] - m - Math.log(z);
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return a.length === b.length ? d : Infinity;
};

t.test('the rows are the final-normed states the lm_head reads', async (t) => {
  const { model, kv, vocab, dir } = await open(t);
  const prompt = promptIds(21, 7);
  const seq = newSeq(blocks(prompt.length));
  const step = embedStep([{ seq, tokens: prompt, doSample: false }], [2]);
  // The same step also scores each prompt token against the next: its logprob under the lm_head.
  step.promptTargets = Int32Array.from(prompt.map((_, i) => (i + 1 < prompt.length ? prompt[i + 1] : -1)));
  step.numPromptLogprobs = Int32Array.from([0]);
  const out = await run(model, kv, step);
  const hidden = out.hidden;
  if (hidden === undefined) throw new Error('no hidden rows');
  t.equal(hidden.length, prompt.length * H, 'one row per token');
  const W = lmHead(dir);
  t.equal(W.length, vocab * H);
  let worst = 0;
  for (const row of [0, 9, 19]) {
    const logits = new Float32Array(vocab);
    for (let v = 0; v < vocab; v++) {
      let acc = 0;
      for (let d = 0; d < H; d++) acc += hidden[row * H + d] * W[v * H + d];
      logits[v] = acc;
    }
    const lp = logSoftmaxAt(logits, prompt[row + 1]);
    worst = Math.max(worst, Math.abs(lp - (out.promptLogprob?.[row] ?? NaN)));
  }
  t.ok(worst < 2e-3, `lm_head(hidden) gives the forward's prompt logprobs (worst ${worst.toExponential(2)} nats)`);
  t.equal(out.sampled[0], -1, 'the embedding seq sampled nothing');
});

t.test('mode 1 is the last row; chunks and a batch give the same rows', async (t) => {
  const { model, kv } = await open(t);
  const prompt = promptIds(37, 11);
  const all = await run(model, kv, embedStep([{ seq: newSeq(blocks(prompt.length)), tokens: prompt, doSample: false }], [2]));
  const rows = all.hidden ?? new Float32Array(0);
  const last = await run(model, kv, embedStep([{ seq: newSeq(blocks(prompt.length)), tokens: prompt, doSample: false }], [1]));
  t.equal(maxDiff(last.hidden ?? [], rows.subarray((prompt.length - 1) * H)), 0, 'mode 1: the last token\'s row, same bits');

  // In two chunks, beside a sampling prefill and a seq that asks for nothing.
  const seq = newSeq(blocks(prompt.length));
  const other = promptIds(9, 3);
  const first = await run(model, kv, embedStep([
    { seq: newSeq(blocks(other.length)), tokens: other, doSample: true },
    { seq, tokens: prompt.slice(0, 20), doSample: false },
    { seq: newSeq(blocks(other.length)), tokens: other, doSample: false },
  ], [0, 2, 0]));
  seq.len = 20;
  t.ok(first.sampled[0] >= 0, 'the sampling seq sampled');
  const second = await run(model, kv, embedStep([{ seq, tokens: prompt.slice(20), doSample: false }], [2]));
  const joined = new Float32Array([...(first.hidden ?? []), ...(second.hidden ?? [])]);
  t.equal(joined.length, rows.length);
  t.ok(maxDiff(joined, rows) < 1e-5, `chunked and batched rows equal the one-shot rows (${maxDiff(joined, rows).toExponential(2)})`);
  const none = await run(model, kv, buildStep([{ seq: newSeq(blocks(4)), tokens: prompt.slice(0, 4), doSample: true }], BS));
  t.equal(none.hidden, undefined, 'a step that asks for none returns none');
});

t.test('bad embedRows are error Results and the model keeps serving', async (t) => {
  const { model, kv } = await open(t);
  const tokens = promptIds(5, 1);
  const cases: [string, Step][] = [];
  const wrongLen = embedStep([{ seq: newSeq(blocks(5)), tokens, doSample: false }], [1, 1]);
  cases.push(['length', wrongLen]);
  cases.push(['mode 3', embedStep([{ seq: newSeq(blocks(5)), tokens, doSample: false }], [3])]);
  cases.push(['sampling too', embedStep([{ seq: newSeq(blocks(5)), tokens, doSample: true }], [1])]);
  for (const [what, step] of cases) {
    const r = await forward(model, kv, step);
    t.notOk(r.ok, what);
    if (!r.ok) t.match(r.error.message, /embedRows/, `${what}: names the field`);
  }
  const ok = await run(model, kv, embedStep([{ seq: newSeq(blocks(5)), tokens, doSample: false }], [1]));
  t.equal(ok.hidden?.length, H);
});

t.test('the hip-emu device returns the CPU\'s rows', async (t) => {
  const cpu = await open(t, 'cpu-f32-kv');
  const dev = await open(t, 'hip-emu');
  const prompt = promptIds(19, 5);
  const step = (): Step => embedStep([
    { seq: newSeq(blocks(prompt.length)), tokens: prompt, doSample: false },
    { seq: newSeq(blocks(6)), tokens: prompt.slice(0, 6), doSample: true },
    { seq: newSeq(blocks(prompt.length)), tokens: prompt, doSample: false },
  ], [2, 0, 1]);
  const a = await run(cpu.model, cpu.kv, step());
  const b = await run(dev.model, dev.kv, step());
  t.equal(b.hidden?.length, (prompt.length + 1) * H, 'rows of mode 2 then mode 1');
  const d = maxDiff(a.hidden ?? [], b.hidden ?? []);
  t.ok(d < 1e-3, `device rows match the CPU's (${d.toExponential(2)})`);
  t.equal(b.sampled[1], a.sampled[1], 'the sampling seq beside them got the same token');
  t.equal(b.sampled[0], -1);
});
