// Paged attention (decode split over KV blocks, and tiled causal prefill) of
// kernels/attn_*.hip on the emulator against the CPU backend's
// ops.pagedAttention, on random caches with awkward shapes, at wavefront 64
// and 32.
import t from 'tap';

import { ops, unwrap } from '../native/kernels-addon.js';
import { randn, rng } from '../native/reference.js';
import { WAVES, atWave, closeness, hipEmu, missingReason } from './emu.js';
import type { EmuAttentionArgs } from './emu.js';

interface Shape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  blockSize: number;
}

// A batch of sequences with `cached` tokens already in the cache and `chunk`
// new tokens this step; blocks are handed out shuffled, block 0 never used.
function batch(seed: number, s: Shape, seqs: { cached: number; chunk: number }[]): EmuAttentionArgs {
  const r = rng(seed);
  const maxBlocks = Math.max(...seqs.map((q) => Math.ceil((q.cached + q.chunk) / s.blockSize)));
  const numBlocks = 1 + seqs.length * maxBlocks;
  const ids = Array.from({ length: numBlocks - 1 }, (_, i) => i + 1).sort(() => r() - 0.5);
  const row = s.nKvHeads * s.headDim;
  const T = seqs.reduce((n, q) => n + q.chunk, 0);
  const kCache = randn(r, numBlocks * s.blockSize * row);
  const vCache = randn(r, numBlocks * s.blockSize * row);
  const blockTables = new Int32Array(seqs.length * maxBlocks);
  const queryStart = new Int32Array(seqs.length + 1);
  const seqLens = new Int32Array(seqs.length);
  const positions = new Int32Array(T);
  const slotMapping = new Int32Array(T);
  let tok = 0;
  seqs.forEach((q, i) => {
    for (let b = 0; b < Math.ceil((q.cached + q.chunk) / s.blockSize); b++) blockTables[i * maxBlocks + b] = ids.pop() ?? 0;
    queryStart[i] = tok;
    seqLens[i] = q.cached + q.chunk;
    for (let j = 0; j < q.chunk; j++, tok++) {
      const p = q.cached + j;
      positions[tok] = p;
      slotMapping[tok] = blockTables[i * maxBlocks + Math.floor(p / s.blockSize)] * s.blockSize + (p % s.blockSize);
    }
  });
  queryStart[seqs.length] = T;
  return {
    ...s,
    q: randn(r, T * s.nHeads * s.headDim),
    k: randn(r, T * row),
    v: randn(r, T * row),
    kCache,
    vCache,
    slotMapping,
    queryStart,
    seqLens,
    blockTables,
    positions,
    mode: seqs.every((q) => q.chunk === 1) ? 'decode' : 'prefill',
  };
}

function cpuAttention(a: EmuAttentionArgs): Float32Array {
  // ops.pagedAttention writes the caches in place: give it copies.
  return unwrap(ops.pagedAttention({ ...a, kCache: a.kCache.slice(), vCache: a.vCache.slice() }));
}

const emu = hipEmu;
if (emu === undefined) {
  t.fail(missingReason);
} else {
  const gqa: Shape = { nHeads: 6, nKvHeads: 2, headDim: 40, blockSize: 5 };
  const mha: Shape = { nHeads: 3, nKvHeads: 3, headDim: 72, blockSize: 16 };

  for (const lanes of WAVES) {
    t.test(`decode, split over KV blocks, wave${lanes}`, (t) => {
      atWave(emu, lanes, () => {
        const a = batch(11 + lanes, gqa, [
          { cached: 0, chunk: 1 },
          { cached: 23, chunk: 1 },
          { cached: 57, chunk: 1 },
        ]);
        const want = cpuAttention(a);
        for (const blocksPerSplit of [1, 3, 100]) {
          const got = unwrap(emu.pagedAttention({ ...a, blocksPerSplit }));
          t.ok(closeness(got.out, want, 1e-5, 1e-4) <= 1, `blocksPerSplit ${blocksPerSplit} matches the CPU`);
        }
      });
      t.end();
    });

    t.test(`prefill chunks over cached prefixes, causal, wave${lanes}`, (t) => {
      atWave(emu, lanes, () => {
        for (const [shape, seqs] of [
          [gqa, [{ cached: 0, chunk: 9 }, { cached: 7, chunk: 70 }, { cached: 30, chunk: 1 }]],
          [mha, [{ cached: 17, chunk: 33 }]],
        ] as const) {
          const a = batch(5 + lanes, shape, [...seqs]);
          const got = unwrap(emu.pagedAttention(a));
          t.ok(closeness(got.out, cpuAttention(a), 1e-5, 1e-4) <= 1, `${JSON.stringify(seqs)} matches the CPU`);
        }
      });
      t.end();
    });
  }

  t.test('kv_write stores each token at its slot in [block][kv_head][slot][d]', (t) => {
    const s = gqa;
    const a = batch(3, s, [{ cached: 2, chunk: 4 }]);
    const got = unwrap(emu.pagedAttention(a));
    const row = s.nKvHeads * s.headDim;
    for (let tok = 0; tok < a.slotMapping.length; tok++) {
      const blk = Math.floor(a.slotMapping[tok] / s.blockSize), off = a.slotMapping[tok] % s.blockSize;
      for (let h = 0; h < s.nKvHeads; h++) {
        const at = ((blk * s.nKvHeads + h) * s.blockSize + off) * s.headDim;
        t.same(Array.from(got.kCache.subarray(at, at + s.headDim)), Array.from(a.k.subarray(tok * row + h * s.headDim, tok * row + (h + 1) * s.headDim)));
      }
    }
    t.end();
  });

  t.test('a block id outside the cache is an error Result, not a crash', (t) => {
    const a = batch(4, gqa, [{ cached: 10, chunk: 1 }]);
    const tables = a.blockTables.slice();
    tables[0] = 10_000;
    const r = emu.pagedAttention({ ...a, blockTables: tables });
    t.equal(r.ok, false);
    if (!r.ok) {
      t.equal(r.error.code, 'HIPSERVE_E_DEVICE');
      t.match(r.error.message, /hipErrorIllegalAddress/);
      t.match(r.error.message, /attn_decode_split/);
    }
    t.ok(unwrap(emu.pagedAttention(a)).out.length > 0, 'the device is usable afterwards');
    t.end();
  });
}
