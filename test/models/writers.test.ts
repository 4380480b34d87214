// safetensors files (single and sharded) hold exactly the values written;
// f16/bf16 round to nearest even; the GGUF q/k permutation turns HF's
// half-split RoPE into llama.cpp's interleaved RoPE; the same arch gives the
// same weights in both formats.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { readGguf } from '../../src/models/gguf-reader.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/models/writers/encode.js';
import { fixtureSpec, hfTensors, permuteQK } from '../../src/models/synth.js';
import { fixtureModel } from '../fixtures/models.js';

interface StEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function readSafetensors(path: string): { header: Record<string, StEntry | undefined>; data: Buffer; headerLen: number } {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, StEntry | undefined>;
  return { header, data: buf.subarray(8 + n), headerLen: n };
}

function f32At(data: Buffer, e: StEntry): Float32Array {
  const [a, b] = e.data_offsets;
  return new Float32Array(data.buffer.slice(data.byteOffset + a, data.byteOffset + b));
}

t.test('f16 and bf16 round to nearest even', (t) => {
  t.equal(f32ToF16Bits(1), 0x3c00);
  t.equal(f32ToF16Bits(65504), 0x7bff);
  t.equal(f32ToF16Bits(65520), 0x7c00, 'overflow to inf');
  t.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00, 'tie to even (down)');
  t.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02, 'tie to even (up)');
  t.equal(f32ToF16Bits(2 ** -24), 0x0001, 'smallest subnormal');
  t.equal(f16BitsToF32(f32ToF16Bits(-0.1)), -0.0999755859375);
  t.equal(f32ToBf16Bits(1), 0x3f80);
  t.equal(bf16BitsToF32(f32ToBf16Bits(Math.fround(1 + 2 ** -8))), 1, 'bf16 tie to even');
  t.end();
});

t.test('safetensors: header, alignment and values; HF names and config', async (t) => {
  const dir = await fixtureModel('qwen2', 'safetensors');
  const { header, data, headerLen } = readSafetensors(join(dir, 'model.safetensors'));
  t.equal((8 + headerLen) % 8, 0, 'data starts 8-byte aligned');
  const spec = fixtureSpec('qwen2');
  const expected = hfTensors(spec, 'f32');
  t.same(Object.keys(header).filter((k) => k !== '__metadata__').sort(), expected.map((x) => x.name).sort());
  let end = 0;
  for (const x of expected) {
    const e = header[x.name];
    if (e === undefined) throw new Error(`missing ${x.name}`);
    t.same(e.shape, x.shape);
    end = Math.max(end, e.data_offsets[1]);
  }
  t.equal(end, data.length, 'no bytes after the last tensor');
  const bias = expected.find((x) => x.name === 'model.layers.1.self_attn.k_proj.bias');
  const e = header['model.layers.1.self_attn.k_proj.bias'];
  if (!bias || !e) throw new Error('no bias');
  t.same(f32At(data, e), bias.values(), 'values as generated');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  t.equal(config.model_type, 'qwen2');
  t.equal(config.vocab_size, 151669);
});

t.test('sharded safetensors: index maps every tensor to the shard holding it', async (t) => {
  const dir = await fixtureModel('llama', 'safetensors', { sharded: true, dtype: 'f16' });
  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string>; metadata: { total_size: number } };
  const files = [...new Set(Object.values(index.weight_map))];
  t.equal(files.length, 2);
  let total = 0;
  for (const f of files) {
    const { header } = readSafetensors(join(dir, f));
    for (const [name, e] of Object.entries(header)) {
      if (name === '__metadata__' || e === undefined) continue;
      t.equal(index.weight_map[name], f);
      t.equal(e.dtype, 'F16');
      total += e.data_offsets[1] - e.data_offsets[0];
    }
  }
  t.equal(total, index.metadata.total_size);
});

// RoPE on one head, HF style: pairs (i, i + D/2).
function ropeNeox(x: Float64Array, pos: number, theta: number): Float64Array {
  const D = x.length;
  const out = new Float64Array(D);
  for (let i = 0; i < D / 2; i++) {
    const a = pos * theta ** ((-2 * i) / D);
    const [c, s] = [Math.cos(a), Math.sin(a)];
    out[i] = (x[i] ?? 0) * c - (x[i + D / 2] ?? 0) * s;
    out[i + D / 2] = (x[i] ?? 0) * s + (x[i + D / 2] ?? 0) * c;
  }
  return out;
}
// llama.cpp's llama style: pairs (2i, 2i + 1).
function ropeInterleaved(x: Float64Array, pos: number, theta: number): Float64Array {
  const D = x.length;
  const out = new Float64Array(D);
  for (let i = 0; i < D / 2; i++) {
    const a = pos * theta ** ((-2 * i) / D);
    const [c, s] = [Math.cos(a), Math.sin(a)];
    out[2 * i] = (x[2 * i] ?? 0) * c - (x[2 * i + 1] ?? 0) * s;
    out[2 * i + 1] = (x[2 * i] ?? 0) * s + (x[2 * i + 1] ?? 0) * c;
  }
  return out;
}

t.test('permuted q/k with interleaved RoPE give the same scores as HF weights with half-split RoPE', (t) => {
  const [nHead, D, cols] = [2, 8, 4];
  const w = Float32Array.from({ length: nHead * D * cols }, (_, i) => Math.cos(i * 1.7));
  const wp = permuteQK(w, nHead, cols);
  const x = [0.3, -1.2, 0.8, 0.5];
  const proj = (m: Float32Array, h: number): Float64Array =>
    Float64Array.from({ length: D }, (_, r) => x.reduce((acc, xv, c) => acc + xv * (m[(h * D + r) * cols + c] ?? 0), 0));
  for (let h = 0; h < nHead; h++) {
    const a = ropeNeox(proj(w, h), 7, 10000);
    const b = ropeInterleaved(proj(wp, h), 7, 10000);
    const dot = (u: Float64Array, v: Float64Array): number => u.reduce((acc, uv, i) => acc + uv * (v[i] ?? 0), 0);
    const ref = ropeNeox(proj(w, h), 3, 10000);
    const refP = ropeInterleaved(proj(wp, h), 3, 10000);
    t.ok(Math.abs(dot(a, ref) - dot(b, refP)) < 1e-9, `head ${String(h)}: q.k after RoPE unchanged`);
  }
  t.end();
});

t.test('same weights in both formats (llama q/k permuted in GGUF)', async (t) => {
  const dir = await fixtureModel('llama', 'safetensors');
  const { header, data } = readSafetensors(join(dir, 'model.safetensors'));
  const ggufPath = await fixtureModel('llama', 'gguf');
  const g = readGguf(ggufPath);
  const gBytes = readFileSync(ggufPath);
  const gTensor = (name: string): Float32Array => {
    const x = g.tensors.find((y) => y.name === name);
    if (x?.size == null) throw new Error(`no ${name}`);
    return new Float32Array(gBytes.buffer.slice(gBytes.byteOffset + x.offset, gBytes.byteOffset + x.offset + x.size));
  };
  const st = (name: string): Float32Array => {
    const e = header[name];
    if (e === undefined) throw new Error(`no ${name}`);
    return f32At(data, e);
  };
  const spec = fixtureSpec('llama');
  // Compared as bytes: tap's deep equality is far too slow for 8M floats.
  const same = (a: Float32Array, b: Float32Array, msg: string): void => {
    t.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), msg);
  };
  same(gTensor('blk.1.ffn_down.weight'), st('model.layers.1.mlp.down_proj.weight'), 'ffn_down');
  same(gTensor('output.weight'), st('lm_head.weight'), 'lm_head');
  same(gTensor('blk.0.attn_k.weight'), permuteQK(st('model.layers.0.self_attn.k_proj.weight'), spec.numKvHeads, spec.hiddenSize), 'k permuted');
  same(gTensor('blk.0.attn_q.weight'), permuteQK(st('model.layers.0.self_attn.q_proj.weight'), spec.numHeads, spec.hiddenSize), 'q permuted');
  t.notOk(Buffer.from(gTensor('blk.0.attn_q.weight').buffer).equals(Buffer.from(st('model.layers.0.self_attn.q_proj.weight').buffer)), 'q really is permuted');
});
