// Paged attention: a mixed batch (prefill chunks, decodes, a chunk on top of
// cached context) with blocks scattered and shuffled in the pool, against a
// dense causal softmax per sequence; over an f32 cache and an f16 one (whose
// reference reads K and V rounded to f16 as kv_write stores them).
import t from 'tap';
import { atLevel, levels, ops, unwrap, type AttentionArgs } from './kernels-addon.js';
import { attentionRef, f16ToF32, f32ToF16, randn, rng, type DenseSeq } from './reference.js';

interface Plan { cached: number; fresh: number } // tokens already in cache, tokens this step

type KvDtype = 'f32' | 'f16';

function run(level: string, H: number, KVH: number, D: number, bs: number, plans: Plan[], seed: number, kv: KvDtype = 'f32') {
  const r = rng(seed);
  const numBlocks = 64;
  const row = KVH * D;
  // Unwritten slots hold NaN and must never be read (0x7e00: an f16 NaN).
  const cache = (): Float32Array | Uint16Array =>
    kv === 'f16' ? new Uint16Array(numBlocks * bs * row).fill(0x7e00) : new Float32Array(numBlocks * bs * row).fill(NaN);
  const kCache = cache();
  const vCache = cache();
  const stored = (x: Float32Array): Float32Array => (kv === 'f16' ? x.map((v) => f16ToF32(f32ToF16(v))) : x);
  // block ids 1..63 shuffled; block 0 is the null block
  const free = Array.from({ length: numBlocks - 1 }, (_, i) => i + 1);
  for (let i = free.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [free[i], free[j]] = [free[j], free[i]];
  }
  const B = Math.max(...plans.map((p) => Math.ceil((p.cached + p.fresh) / bs))) + 1;
  const tables = new Int32Array(plans.length * B); // padded with 0
  const seqs: DenseSeq[] = plans.map((p, i) => {
    const n = p.cached + p.fresh;
    for (let b = 0; b < Math.ceil(n / bs); b++) tables[i * B + b] = free.pop() ?? 0;
    return { k: Array.from({ length: n }, () => randn(r, row)), v: Array.from({ length: n }, () => randn(r, row)) };
  });
  const slotOf = (i: number, pos: number) => tables[i * B + Math.floor(pos / bs)] * bs + (pos % bs);
  const step = (range: (p: Plan) => [number, number]) => {
    const tok: { seq: number; pos: number }[] = [];
    plans.forEach((p, i) => {
      const [a, b] = range(p);
      for (let pos = a; pos < b; pos++) tok.push({ seq: i, pos });
    });
    const qs = new Int32Array(plans.length + 1);
    plans.forEach((p, i) => { const [a, b] = range(p); qs[i + 1] = qs[i] + (b - a); });
    const T = tok.length;
    const q = randn(r, T * H * D);
    const k = new Float32Array(T * row), v = new Float32Array(T * row);
    tok.forEach((x, j) => { k.set(seqs[x.seq].k[x.pos], j * row); v.set(seqs[x.seq].v[x.pos], j * row); });
    const args: AttentionArgs = {
      q, k, v, kCache, vCache,
      slotMapping: Int32Array.from(tok, (x) => slotOf(x.seq, x.pos)),
      queryStart: qs,
      seqLens: Int32Array.from(plans, (p, i) => (range(p)[1] > range(p)[0] ? range(p)[1] : Math.max(1, plans[i].cached))),
      blockTables: tables,
      positions: Int32Array.from(tok, (x) => x.pos),
      nHeads: H, nKvHeads: KVH, headDim: D, blockSize: bs,
    };
    let out: Float32Array = new Float32Array(0);
    atLevel(level, () => { out = unwrap(ops.pagedAttention(args)); });
    const asStored = seqs.map((x) => ({ k: x.k.map(stored), v: x.v.map(stored) }));
    const ref = attentionRef(q, tok.map((x) => x.seq), args.positions, asStored, H, KVH, D, 1 / Math.sqrt(D));
    let worst = 0;
    for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]));
    return { worst, args };
  };
  // step 1 writes the cached context (as prefill chunks), step 2 is the mixed batch
  const first = step((p) => [0, p.cached]);
  const second = step((p) => [p.cached, p.cached + p.fresh]);
  return { first, second };
}

// Inputs are N(0,1), scores are O(1) after the 1/sqrt(D) scale, outputs are
// convex combinations of values |v| < ~5: f32 dots of D terms and the
// online-softmax rescaling keep the absolute error well under 1e-5 (about
// (D + context) * u * max|v|); a wrong block, mask or softmax is off by O(0.1).
const BOUND = 1e-5;

for (const level of levels()) for (const kv of ['f32', 'f16'] as const) {
  t.test(`paged attention mixed batch at ${level}, ${kv} cache`, (t) => {
    const plans: Plan[] = [
      { cached: 0, fresh: 7 },   // prefill from scratch, crosses blocks
      { cached: 20, fresh: 1 },  // decode on a long context
      { cached: 9, fresh: 5 },   // chunked prefill on top of cached tokens
      { cached: 0, fresh: 1 },   // decode of a one-token sequence
      { cached: 3, fresh: 0 },   // in the cache, nothing this step
    ];
    for (const [H, KVH, D, bs] of [[4, 2, 16, 4], [6, 1, 19, 5], [2, 2, 64, 16], [8, 4, 128, 3]]) {
      const { first, second } = run(level, H, KVH, D, bs, plans, 100 + H + D, kv);
      t.ok(first.worst < BOUND, `H=${H} KVH=${KVH} D=${D} bs=${bs}: context step, max error ${first.worst.toExponential(2)}`);
      t.ok(second.worst < BOUND, `H=${H} KVH=${KVH} D=${D} bs=${bs}: mixed step, max error ${second.worst.toExponential(2)}`);
    }
    t.end();
  });
}

// One sequence of T tokens prefilled in one call (the kernels take up to 4
// queries that share a kv head's rows at once: a prefill's consecutive
// tokens, a GQA group's heads), then the tokens at `probes` decoded alone
// over the cache it wrote. Returns the prefill's largest error against the
// dense reference and whether each probe equals its prefill row bit for bit.
function prefillThenDecode(level: string, kv: KvDtype, [H, KVH, D, bs]: number[], T: number, probes: number[], seed: number) {
  const r = rng(seed);
  const row = KVH * D, blocks = Math.ceil(T / bs);
  const cache = (): Float32Array | Uint16Array =>
    kv === 'f16' ? new Uint16Array((blocks + 1) * bs * row) : new Float32Array((blocks + 1) * bs * row);
  const kCache = cache(), vCache = cache();
  const tables = Int32Array.from({ length: blocks }, (_, b) => blocks - b); // reversed: scattered
  const slot = (p: number) => tables[Math.floor(p / bs)] * bs + (p % bs);
  const q = randn(r, T * H * D), k = randn(r, T * row), v = randn(r, T * row);
  const shape = { nHeads: H, nKvHeads: KVH, headDim: D, blockSize: bs, blockTables: tables, kCache, vCache };
  const positions = Int32Array.from({ length: T }, (_, p) => p);
  let all: Float32Array = new Float32Array(0);
  atLevel(level, () => {
    all = unwrap(ops.pagedAttention({
      ...shape, q, k, v, slotMapping: Int32Array.from({ length: T }, (_, p) => slot(p)),
      queryStart: Int32Array.from([0, T]), seqLens: Int32Array.from([T]), positions,
    }));
  });
  const stored = (x: Float32Array): Float32Array => (kv === 'f16' ? x.map((y) => f16ToF32(f32ToF16(y))) : x);
  const rows = (x: Float32Array) => Array.from({ length: T }, (_, j) => stored(x.slice(j * row, (j + 1) * row)));
  const ref = attentionRef(q, Array.from({ length: T }, () => 0), positions, [{ k: rows(k), v: rows(v) }], H, KVH, D, 1 / Math.sqrt(D));
  let worst = 0;
  for (let i = 0; i < all.length; i++) worst = Math.max(worst, Math.abs(all[i] - ref[i]));
  let same = true;
  for (const p of probes) {
    atLevel(level, () => {
      const one = unwrap(ops.pagedAttention({
        ...shape, q: q.slice(p * H * D, (p + 1) * H * D), k: k.slice(p * row, (p + 1) * row),
        v: v.slice(p * row, (p + 1) * row), slotMapping: Int32Array.from([-1]), // already in the cache
        queryStart: Int32Array.from([0, 1]), seqLens: Int32Array.from([p + 1]), positions: Int32Array.from([p]),
      }));
      for (let i = 0; i < H * D; i++) if (!Object.is(one[i], all[p * H * D + i])) same = false;
    });
  }
  return { worst, same };
}

// Each query gets the single-row kernel's arithmetic: a token's output must
// not depend on how it was grouped, so a prefilled token equals the same
// token decoded alone, bit for bit (batch invariance and recompute after
// preemption rest on it).
for (const level of levels()) for (const kv of ['f32', 'f16'] as const) {
  t.test(`paged attention: a prefilled token equals it decoded alone at ${level}, ${kv} cache`, (t) => {
    for (const shape of [[2, 2, 64, 16], [3, 1, 32, 5], [4, 2, 128, 7], [2, 1, 40, 4]]) {
      const { worst, same } = prefillThenDecode(level, kv, shape, 23, [0, 1, 4, 5, 11, 16, 22], 900 + shape[0] + shape[2]);
      const [H, KVH, D, bs] = shape;
      t.ok(worst < BOUND, `H=${H} KVH=${KVH} D=${D} bs=${bs}: prefill max error ${worst.toExponential(2)}`);
      t.ok(same, `H=${H} KVH=${KVH} D=${D} bs=${bs}: decoded tokens equal their prefill rows bit for bit`);
    }
    t.end();
  });
}

// Contexts longer than one score chunk of the AVX-512 kernel (about 256
// keys, whole blocks): the softmax carries across chunks.
for (const level of levels()) {
  t.test(`paged attention over contexts of several chunks at ${level}`, (t) => {
    for (const shape of [[2, 1, 64, 16], [2, 2, 40, 5]]) {
      const { worst, same } = prefillThenDecode(level, 'f16', shape, 300, [254, 255, 256, 257, 299], 1300 + shape[2] + shape[3]);
      const [H, KVH, D, bs] = shape;
      t.ok(worst < BOUND, `H=${H} KVH=${KVH} D=${D} bs=${bs}: 300 tokens, max error ${worst.toExponential(2)}`);
      t.ok(same, `H=${H} KVH=${KVH} D=${D} bs=${bs}: decoded tokens equal their prefill rows bit for bit`);
    }
    t.end();
  });
}

t.test('paged attention rejects inconsistent batches', (t) => {
  const { second } = run('scalar', 2, 1, 8, 4, [{ cached: 5, fresh: 2 }, { cached: 1, fresh: 1 }], 7);
  const base = second.args;
  const bad = (patch: Partial<AttentionArgs>, what: string) => {
    const r = ops.pagedAttention({ ...base, ...patch });
    t.equal(r.ok ? 'ok' : r.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', what);
  };
  bad({ blockTables: base.blockTables.map((b) => (b ? 9999 : 0)) }, 'block id past the pool');
  bad({ positions: base.positions.map((p) => p + 50) }, 'position past seq_len');
  bad({ slotMapping: base.slotMapping.map(() => 1 << 30) }, 'slot past the pool');
  bad({ queryStart: new Int32Array([0, 1, 2]) }, 'queryStart not ending at T');
  bad({ nKvHeads: 3 }, 'heads not a multiple of kv heads');
  bad({ q: new Float32Array(3) }, 'q too short');
  t.throws(() => ops.pagedAttention({ ...base, positions: [1, 2] as unknown as Int32Array }), TypeError);
  t.equal(unwrap(ops.pagedAttention(base)).length, base.q.length, 'still answers');
  t.end();
});
