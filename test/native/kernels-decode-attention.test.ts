// ops.decodeAttention (cpu::decode_attention, the forward's decode path):
// RoPE, the KV write and attention of a decode step in one pool task, per kv
// head. It must give the same bits as the three separate kernels the
// forward runs for any other step (ops.rope on q and k, then
// ops.pagedAttention, which writes K/V and attends): the same output, the
// same rotated q and k, and the same cache contents, at every SIMD level,
// over f32 and f16 caches, with and without GQA (a group wider than the
// kernels' 4-query tile too), blocks scattered in the pool.
import t from 'tap';
import { atLevel, levels, ops, unwrap, type AttentionArgs, type OpResult, type RopeParamsJs } from './kernels-addon.js';
import { randn, rng } from './reference.js';

type KvDtype = 'f32' | 'f16';

interface Case { H: number; KVH: number; D: number; bs: number; contexts: number[]; rope: RopeParamsJs }

const sameBits = (a: Float32Array | Uint16Array, b: Float32Array | Uint16Array): boolean => {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.byteLength >> 2);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  for (let i = x.length * 4; i < a.byteLength; i++) {
    if (new Uint8Array(a.buffer, a.byteOffset)[i] !== new Uint8Array(b.buffer, b.byteOffset)[i]) return false;
  }
  return true;
};

/** A decode step over `contexts` tokens already cached (written by a first, prefill step). */
function setup(c: Case, kv: KvDtype, seed: number): { args: AttentionArgs; cache: () => [Float32Array | Uint16Array, Float32Array | Uint16Array] } {
  const r = rng(seed);
  const numBlocks = 48;
  const row = c.KVH * c.D;
  const free = Array.from({ length: numBlocks - 1 }, (_, i) => i + 1);
  for (let i = free.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [free[i], free[j]] = [free[j], free[i]];
  }
  const S = c.contexts.length;
  const B = Math.max(...c.contexts.map((n) => Math.ceil((n + 1) / c.bs)));
  const tables = new Int32Array(S * B);
  c.contexts.forEach((n, i) => {
    for (let b = 0; b < Math.ceil((n + 1) / c.bs); b++) tables[i * B + b] = free.pop() ?? 0;
  });
  const slotOf = (i: number, pos: number): number => tables[i * B + Math.floor(pos / c.bs)] * c.bs + (pos % c.bs);
  // The cached context, as one prefill step through pagedAttention.
  const kCache = kv === 'f16' ? new Uint16Array(numBlocks * c.bs * row) : new Float32Array(numBlocks * c.bs * row);
  const vCache = kv === 'f16' ? new Uint16Array(kCache.length) : new Float32Array(kCache.length);
  const ctx = c.contexts.flatMap((n, i) => Array.from({ length: n }, (_, pos) => ({ seq: i, pos })));
  const qs0 = new Int32Array(S + 1);
  c.contexts.forEach((n, i) => { qs0[i + 1] = qs0[i] + n; });
  unwrap(ops.pagedAttention({
    q: randn(r, ctx.length * c.H * c.D), k: randn(r, ctx.length * row), v: randn(r, ctx.length * row), kCache, vCache,
    slotMapping: Int32Array.from(ctx, (x) => slotOf(x.seq, x.pos)), queryStart: qs0,
    seqLens: Int32Array.from(c.contexts, (n) => Math.max(1, n)), blockTables: tables,
    positions: Int32Array.from(ctx, (x) => x.pos), nHeads: c.H, nKvHeads: c.KVH, headDim: c.D, blockSize: c.bs,
  }));
  const args: AttentionArgs = {
    q: randn(r, S * c.H * c.D), k: randn(r, S * row), v: randn(r, S * row), kCache, vCache,
    slotMapping: Int32Array.from(c.contexts, (n, i) => slotOf(i, n)),
    queryStart: Int32Array.from({ length: S + 1 }, (_, i) => i),
    seqLens: Int32Array.from(c.contexts, (n) => n + 1), blockTables: tables,
    positions: Int32Array.from(c.contexts), nHeads: c.H, nKvHeads: c.KVH, headDim: c.D, blockSize: c.bs,
  };
  // Each side gets its own copy of the cached context.
  const cache = (): [Float32Array | Uint16Array, Float32Array | Uint16Array] => [kCache.slice(), vCache.slice()];
  return { args, cache };
}

const cases: Case[] = [
  { H: 4, KVH: 4, D: 64, bs: 16, contexts: [0, 17, 40, 5], rope: { theta: 10000 } },
  { H: 8, KVH: 4, D: 32, bs: 8, contexts: [31, 1, 9], rope: { theta: 500000, style: 'interleaved' } },
  {
    H: 12, KVH: 2, D: 64, bs: 16, contexts: [3, 50],
    rope: { theta: 500000, llama3Factor: 8, llama3LowFreqFactor: 1, llama3HighFreqFactor: 4, llama3OriginalMaxPos: 16 },
  },
  { H: 6, KVH: 3, D: 64, bs: 16, contexts: [20, 7], rope: { theta: 10000, rotaryDim: 32 } },
];

for (const level of levels()) for (const kv of ['f32', 'f16'] as const) {
  t.test(`decodeAttention = rope + pagedAttention, bit for bit, at ${level}, ${kv} cache`, (t) => {
    cases.forEach((c, n) => {
      const { args, cache } = setup(c, kv, 100 + n);
      const what = `H ${c.H} KVH ${c.KVH} D ${c.D} contexts ${c.contexts.join(',')}`;
      atLevel(level, () => {
        const [kA, vA] = cache();
        const S = c.contexts.length;
        const q = unwrap(ops.rope(args.q, args.positions, c.H, c.D, c.rope));
        const k = unwrap(ops.rope(args.k, args.positions, c.KVH, c.D, c.rope));
        const out = unwrap(ops.pagedAttention({ ...args, q, k, kCache: kA, vCache: vA }));
        const [kB, vB] = cache();
        const fused = unwrap(ops.decodeAttention({ ...args, kCache: kB, vCache: vB, rope: c.rope }));
        t.ok(sameBits(fused.out, out), `${what}: the same attention output`);
        t.ok(sameBits(fused.q, q) && sameBits(fused.k, k), `${what}: the same rotated q and k`);
        t.ok(sameBits(kB, kA) && sameBits(vB, vA), `${what}: the same caches after the step`);
        t.equal(fused.out.length, S * c.H * c.D, `${what}: one output row per query head`);
        t.ok(fused.out.every(Number.isFinite), `${what}: finite outputs`);
      });
    });
    t.end();
  });
}

t.test('decodeAttention: a step that is not one token a sequence, and bad arguments', (t) => {
  const c = cases[0];
  const { args, cache } = setup(c, 'f32', 7);
  const [kCache, vCache] = cache();
  // Two tokens for the first sequence (positions 0 and 1 of its first
  // block; its context is empty): a valid batch, but not a decode step.
  const T = c.contexts.length + 1;
  const bad: OpResult<unknown> = ops.decodeAttention({
    ...args, kCache, vCache, rope: c.rope,
    q: new Float32Array(T * c.H * c.D), k: new Float32Array(T * c.KVH * c.D), v: new Float32Array(T * c.KVH * c.D),
    queryStart: Int32Array.from([0, 2, 3, 4, 5]),
    slotMapping: Int32Array.from([args.slotMapping[0], args.slotMapping[0] + 1, ...args.slotMapping.slice(1)]),
    positions: Int32Array.from([0, 1, ...args.positions.slice(1)]),
    seqLens: Int32Array.from(args.seqLens, (n, i) => (i === 0 ? 2 : n)),
  });
  t.match(bad, { ok: false, error: { code: 'HIPSERVE_E_INVALID_ARGUMENT', where: 'ops.decodeAttention', message: /exactly one query token/ } });
  t.match(ops.decodeAttention({ ...args, kCache, vCache, rope: { style: 'sideways' as 'neox' } }), {
    ok: false, error: { code: 'HIPSERVE_E_INVALID_ARGUMENT', message: /style must be/ },
  }, 'a bad rope style');
  t.throws(() => ops.decodeAttention({ ...args, kCache, vCache } as never), TypeError, 'no rope params: TypeError');
  t.throws(() => ops.decodeAttention(3 as never), TypeError, 'not an object: TypeError');
  t.ok(unwrap(ops.decodeAttention({ ...args, kCache, vCache, rope: c.rope })).out.every(Number.isFinite), 'the addon still answers');
  t.end();
});
