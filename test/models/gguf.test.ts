// The GGUF writer and reader agree on every metadata type and on tensor
// infos, generated model files carry llama.cpp's names and metadata, and a
// truncated or corrupted file is a GgufError naming the file and the key or
// tensor, never a crash.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { GgufError, GgufMetadata, readGguf } from '../../src/models/gguf-reader.js';
import type { GgufValue } from '../../src/models/gguf-types.js';
import { writeGguf } from '../../src/models/writers/gguf.js';
import { dequantizeQ8_0, encode } from '../../src/models/writers/encode.js';
import { fixtureModel } from '../fixtures/models.js';

const dir = mkdtempSync(join(tmpdir(), 'hs-gguf-'));
t.teardown(() => {
  rmSync(dir, { recursive: true, force: true });
});

const metadata: [string, GgufValue][] = [
  ['general.architecture', { type: 'string', value: 'llama' }],
  ['t.u8', { type: 'u8', value: 250 }],
  ['t.i8', { type: 'i8', value: -100 }],
  ['t.u16', { type: 'u16', value: 65000 }],
  ['t.i16', { type: 'i16', value: -32000 }],
  ['t.u32', { type: 'u32', value: 4000000000 }],
  ['t.i32', { type: 'i32', value: -2000000000 }],
  ['t.f32', { type: 'f32', value: 0.5 }],
  ['t.f64', { type: 'f64', value: Math.PI }],
  ['t.u64', { type: 'u64', value: 2n ** 63n + 5n }],
  ['t.i64', { type: 'i64', value: -(2n ** 62n) }],
  ['t.bool', { type: 'bool', value: true }],
  ['t.str', { type: 'string', value: 'ünïcode ✓ and "quotes"' }],
  ['t.strs', { type: 'array', itemType: 'string', items: ['a', '', 'Ġhello', '<|im_end|>'] }],
  ['t.i32s', { type: 'array', itemType: 'i32', items: [1, -2, 3] }],
  ['t.f32s', { type: 'array', itemType: 'f32', items: [0.25, -1.5] }],
  ['t.u64s', { type: 'array', itemType: 'u64', items: [1n, 2n] }],
  ['t.bools', { type: 'array', itemType: 'bool', items: [true, false] }],
  ['t.nested', { type: 'array', itemType: 'array', items: [{ type: 'array', itemType: 'u8', items: [1, 2] }] }],
];
const values = Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(i) * 3);
const tensors = [
  { name: 'a.f32', shape: [3, 64], dtype: 'f32' as const, values: () => values },
  { name: 'b.f16', shape: [3, 64], dtype: 'f16' as const, values: () => values },
  { name: 'c.q8', shape: [3, 64], dtype: 'q8_0' as const, values: () => values },
  { name: 'd.bf16', shape: [5], dtype: 'bf16' as const, values: () => values.subarray(0, 5) },
];
const path = join(dir, 'rt.gguf');
writeGguf(path, { metadata, tensors });

t.test('writer and reader round-trip every value type and tensor info', (t) => {
  const f = readGguf(path);
  t.equal(f.version, 3);
  t.equal(f.alignment, 32);
  t.same([...f.metadata.entries()], metadata);
  t.same(
    f.tensors.map((x) => [x.name, x.shape, x.typeName, x.size]),
    [
      ['a.f32', [3, 64], 'f32', 768],
      ['b.f16', [3, 64], 'f16', 384],
      ['c.q8', [3, 64], 'q8_0', 3 * 2 * 34],
      ['d.bf16', [5], 'bf16', 10],
    ],
  );
  const bytes = readFileSync(path);
  for (const x of f.tensors) t.equal(x.offset % 32, 0, `${x.name} is 32-byte aligned`);
  const [a, , c] = f.tensors as [(typeof f.tensors)[number], unknown, (typeof f.tensors)[number]];
  if (c.size === null) throw new Error('q8_0 tensor without a size');
  t.same(new Float32Array(bytes.buffer.slice(bytes.byteOffset + a.offset, bytes.byteOffset + a.offset + 768)), values, 'f32 data lands at its offset');
  const q = dequantizeQ8_0(new Uint8Array(bytes.subarray(c.offset, c.offset + c.size)));
  let maxErr = 0;
  for (let i = 0; i < values.length; i++) maxErr = Math.max(maxErr, Math.abs((q[i] ?? 0) - (values[i] ?? 0)));
  // Half a quantization step, plus the f16 rounding of the scale times 127.
  t.ok(maxErr <= (3 / 127) * 0.5 + 3 * 2 ** -10, `q8_0 dequantizes within half a step (${maxErr.toFixed(5)})`);
  t.end();
});

t.test('q8_0 follows llama.cpp: d = amax/127 as f16, q = roundf(x/d)', (t) => {
  const block = new Float32Array(32);
  block[0] = 127;
  block[1] = -63.5; // a tie: roundf goes away from zero
  block[2] = 2.5;
  const b = encode('q8_0', block, 32);
  const view = new DataView(b.buffer, b.byteOffset);
  t.equal(view.getUint16(0, true), 0x3c00, 'd = 1.0 in f16');
  t.same([view.getInt8(2), view.getInt8(3), view.getInt8(4)], [127, -64, 3]);
  t.end();
});

t.test('generated GGUF carries llama.cpp names, dims and metadata', async (t) => {
  const f = readGguf(await fixtureModel('qwen3', 'gguf'));
  const md = new GgufMetadata(f);
  t.equal(md.string('general.architecture'), 'qwen3');
  t.equal(md.number('qwen3.attention.key_length'), 32);
  t.equal(md.string('tokenizer.ggml.pre'), 'qwen2');
  t.equal(md.strings('tokenizer.ggml.tokens').length, 151669);
  const names = f.tensors.map((x) => x.name);
  t.ok(names.includes('blk.1.attn_q_norm.weight'));
  t.notOk(names.includes('output.weight'), 'tied embeddings: no output.weight');
  const q = f.tensors.find((x) => x.name === 'blk.0.attn_q.weight');
  t.same(q?.shape, [128, 64], 'q rows = heads * head_dim, cols = hidden');
  t.throws(() => md.number('qwen3.missing'), /qwen3\.missing/);
  t.throws(() => md.number('general.architecture'), /expected a number/);
});

function corrupt(name: string, mutate: (b: Buffer) => Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, mutate(readFileSync(path)));
  return p;
}

t.test('broken files give a GgufError naming the file and what was read', (t) => {
  const f = readGguf(path);
  const firstTensor = f.tensors[0]?.offset ?? 0;
  const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['empty.gguf', () => Buffer.alloc(0), /truncated.*header/],
    ['magic.gguf', (b) => Buffer.concat([Buffer.from('GGML'), b.subarray(4)]), /bad magic/],
    ['in-metadata.gguf', (b) => b.subarray(0, b.indexOf('t.strs') + 30), /(truncated|does not fit).*metadata key t\.strs/],
    ['in-data.gguf', (b) => b.subarray(0, firstTensor + 100), /runs past the end.*tensor a\.f32/],
    [
      'huge-count.gguf',
      (b) => {
        const c = Buffer.from(b);
        c.writeBigUInt64LE(2n ** 60n, 16); // the metadata count
        return c;
      },
      /count .* does not fit/,
    ],
  ];
  for (const [name, mutate, re] of cases) {
    const p = corrupt(name, mutate);
    let err: unknown = null;
    try {
      readGguf(p);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof GgufError, `${name}: a GgufError`);
    t.match((err as Error).message, re, `${name}: says what broke`);
    t.match((err as Error).message, p, `${name}: names the file`);
  }
  // Truncating anywhere must never crash or hang.
  const whole = readFileSync(path);
  for (let n = 0; n < f.dataOffset; n += 37) {
    const p = corrupt('cut.gguf', () => whole.subarray(0, n));
    t.throws(() => readGguf(p), GgufError);
  }
  t.end();
});
