// matmul / quantize / dequantize / embed against test/native/reference.ts,
// at every SIMD level this CPU runs.
import t from 'tap';
import { atLevel, levels, ops, unwrap, type DTypeName } from './kernels-addon.js';
import { dequantize, f16ToF32, f32ToF16, matmulQ8Ref, matmulRef, quantize, randn, rng } from './reference.js';

const U = 2 ** -24; // f32 unit roundoff

// Float weights: the kernels sum 8- or 16-lane partial sums over K chunks of
// 512, reduce the lanes, then add the chunks, so each product goes through
// at most 512/8 + 4 + ceil(K/512) + 1 roundings; the worst case error is
// that many units of roundoff times sum |x w| (Higham's gamma_n). The weights
// themselves are exact in f32 (f16 and bf16 widen exactly), so this is the
// whole bound; 2x margin.
function floatBound(K: number, mag: number): number {
  return 2 * (64 + 4 + Math.ceil(K / 512) + 1) * U * mag + 1e-30;
}
// Q8_0 against the reference that quantizes activations the same way: the
// integer block dots are exact; what remains is the f32 scaling and the
// accumulation over K/32 blocks in 8 lanes (same gamma_n argument).
function q8Bound(K: number, mag: number): number {
  return 2 * (K / 32 + 8) * U * mag + 1e-30;
}

const FLOAT_SHAPES: [number, number, number][] = [
  [1, 77, 37], [3, 33, 19], [17, 1031, 21], [64, 513, 35], [1, 2048, 64], [2, 8, 5], [5, 1, 3],
];
const Q8_SHAPES: [number, number, number][] = [
  [1, 32, 5], [3, 96, 37], [17, 544, 19], [64, 1056, 21], [1, 2080, 67],
  // K of 1056 blocks: past the batched AVX2 kernel's scale panel (1040 blocks), its other path
  [3, 33792, 6],
];

t.test('quantize gives the reference bytes and dequantize inverts exactly', (t) => {
  const r = rng(1);
  for (const dt of ['f32', 'f16', 'bf16', 'q8_0'] as DTypeName[]) {
    const x = randn(r, 32 * 37, 3);
    x[5] = 0; x[6] = -0; x[7] = 70000; x[8] = 1e-6; x[9] = 6.0e-8; x[10] = 2 ** -25 * 3; // overflow, subnormals, ties
    const bytes = unwrap(ops.quantize(x, dt));
    t.same(Array.from(bytes), Array.from(quantize(dt, x)), `${dt} bytes`);
    const back = unwrap(ops.dequantize(bytes, dt, x.length));
    t.same(Array.from(back), Array.from(dequantize(dt, bytes, x.length)), `${dt} dequantize`);
  }
  // every f16 bit pattern round-trips (except NaN payloads)
  const all = new Uint16Array(65536).map((_, i) => i);
  const vals = unwrap(ops.dequantize(new Uint8Array(all.buffer), 'f16', 65536));
  let bad = 0;
  for (let i = 0; i < 65536; i++) {
    const v = f16ToF32(i);
    if (!Number.isNaN(v) && (vals[i] !== v || f32ToF16(v) !== i)) bad++;
  }
  t.equal(bad, 0, 'f16 table');
  t.end();
});

for (const level of levels()) {
  t.test(`matmul float weights at ${level}`, (t) => {
    atLevel(level, () => {
      const r = rng(2);
      for (const dt of ['f32', 'f16', 'bf16'] as DTypeName[]) {
        for (const [M, K, N] of FLOAT_SHAPES) {
          const x = randn(r, M * K);
          const wb = unwrap(ops.quantize(randn(r, N * K), dt));
          const y = unwrap(ops.matmul(x, M, K, wb, dt, N));
          const ref = matmulRef(x, M, K, dequantize(dt, wb, N * K), N);
          let worst = 0;
          for (let i = 0; i < M * N; i++) worst = Math.max(worst, Math.abs(y[i] - ref.y[i]) / floatBound(K, ref.mag[i]));
          t.ok(worst <= 1, `${dt} M=${M} K=${K} N=${N}: error/bound ${worst.toExponential(2)}`);
        }
      }
    });
    t.end();
  });

  t.test(`matmul q8_0 at ${level}`, (t) => {
    atLevel(level, () => {
      const r = rng(3);
      for (const [M, K, N] of Q8_SHAPES) {
        const x = randn(r, M * K);
        const wb = unwrap(ops.quantize(randn(r, N * K), 'q8_0'));
        const y = unwrap(ops.matmul(x, M, K, wb, 'q8_0', N));
        const ref = matmulQ8Ref(x, M, K, wb, N);
        const exact = matmulRef(x, M, K, dequantize('q8_0', wb, N * K), N);
        let worst = 0, worstAct = 0;
        for (let i = 0; i < M * N; i++) {
          worst = Math.max(worst, Math.abs(y[i] - ref.y[i]) / q8Bound(K, ref.mag[i]));
          // vs the unquantized activations: each activation moves by at most dx/2
          worstAct = Math.max(worstAct, Math.abs(y[i] - exact.y[i]) / (ref.actErr[i] + q8Bound(K, ref.mag[i])));
        }
        t.ok(worst <= 1, `M=${M} K=${K} N=${N}: error/bound vs int8 reference ${worst.toExponential(2)}`);
        t.ok(worstAct <= 1, `M=${M} K=${K} N=${N}: error/bound vs f32 activations ${worstAct.toExponential(2)}`);
      }
    });
    t.end();
  });

  t.test(`matmul rows do not depend on M or on threads at ${level}`, (t) => {
    atLevel(level, () => {
      const r = rng(4);
      for (const dt of ['f32', 'f16', 'bf16', 'q8_0'] as DTypeName[]) {
        const M = 19, K = 1088, N = 45;
        const x = randn(r, M * K);
        const wb = unwrap(ops.quantize(randn(r, N * K), dt));
        const all = unwrap(ops.matmul(x, M, K, wb, dt, N));
        const one = unwrap(ops.matmul(x, M, K, wb, dt, N, 1));
        t.same(Array.from(one), Array.from(all), `${dt}: 1 thread = pool`);
        // 7 threads on fewer cores: workers wake late or not at all, and the
        // threads that run take their ranges from the back (the stream split).
        let stolen = true;
        for (let rep = 0; rep < 20; rep++) {
          const y = unwrap(ops.matmul(x, M, K, wb, dt, N, 7));
          for (let i = 0; i < y.length; i++) if (y[i] !== all[i]) stolen = false;
          const y1 = unwrap(ops.matmul(x.subarray(0, K), 1, K, wb, dt, N, 7));
          for (let n = 0; n < N; n++) if (y1[n] !== all[n]) stolen = false;
        }
        t.ok(stolen, `${dt}: a pool of 7 threads (ranges stolen from late workers) = pool, 20 times`);
        let same = true;
        for (const m of [0, 7, 18]) {
          const row = unwrap(ops.matmul(x.slice(m * K, (m + 1) * K), 1, K, wb, dt, N));
          for (let n = 0; n < N; n++) if (row[n] !== all[m * N + n]) same = false;
        }
        t.ok(same, `${dt}: a row alone equals the same row in a batch of ${M}, bit for bit`);
      }
      // Q8_0 with K past the batched AVX2 kernel's scale panel takes its other path.
      const M = 3, K = 33792, N = 6;
      const x = randn(r, M * K);
      const wb = unwrap(ops.quantize(randn(r, N * K), 'q8_0'));
      const all = unwrap(ops.matmul(x, M, K, wb, 'q8_0', N));
      const row = unwrap(ops.matmul(x.slice(2 * K, 3 * K), 1, K, wb, 'q8_0', N));
      t.same(Array.from(row), Array.from(all.subarray(2 * N, 3 * N)), 'q8_0, K = 33792: a row alone equals the row in a batch');
    });
    t.end();
  });
}

// The 16-row interleaved layouts a CPU model's matrices are packed into at
// load. Q8_0: each (x row, W row) accumulates its K/32 blocks in order with
// one FMA each: K/32 + 1 roundings, inside q8Bound. F16 / BF16: four
// partial sums (column k into sum k % 4, one FMA each: ceil(K/4)
// roundings), then two adds and one: ceil(K/4) + 2 roundings; 2x margin.
const code = (r: { ok: boolean; error?: { code: string } }): string | undefined => (r.ok ? 'ok' : r.error?.code);
function packedFloatBound(K: number, mag: number): number {
  return 2 * (Math.ceil(K / 4) + 2) * U * mag + 1e-30;
}
const PACKED_SHAPES: [number, number, number][] = [
  [1, 32, 16], [1, 768, 48], [2, 96, 32], [3, 544, 64], [5, 1056, 16], [17, 2080, 80], [67, 256, 32],
];
const PACKED_FLOAT_SHAPES: [number, number, number][] = [
  [1, 77, 16], [1, 768, 48], [2, 33, 32], [3, 513, 64], [5, 1031, 16], [17, 2050, 80], [67, 5, 32],
];

for (const level of levels()) {
  t.test(`packed weights (16-row interleave) at ${level}`, (t) => {
    atLevel(level, () => {
      const r = rng(11);
      for (const dt of ['q8_0', 'f16', 'bf16'] as DTypeName[]) {
        const kernel = unwrap(ops.packedKernel(dt));
        for (const [M, K, N] of dt === 'q8_0' ? PACKED_SHAPES : PACKED_FLOAT_SHAPES) {
          const tag = `${dt} M=${M} K=${K} N=${N}`;
          const x = randn(r, M * K);
          const wb = unwrap(ops.quantize(randn(r, N * K), dt));
          const packed = unwrap(ops.packWeights(wb, dt, N, K));
          t.equal(packed.length, wb.length, `${tag}: the same size as the row layout`);
          const y = unwrap(ops.matmul(x, M, K, wb, dt, N, undefined, packed));
          // Every level has a packed kernel (a loaded model may hold only the
          // packed copy); the portable one gives the AVX-512 one's bits.
          let portable = y;
          atLevel('scalar', () => {
            portable = unwrap(ops.matmul(x, M, K, wb, dt, N, undefined, packed));
          });
          t.same(Array.from(y), Array.from(portable), `${tag}: the same bits as the portable kernel${kernel ? '' : ' (which this level uses)'}`);
          let worst = 0;
          if (dt === 'q8_0') {
            const ref = matmulQ8Ref(x, M, K, wb, N);
            for (let i = 0; i < M * N; i++) worst = Math.max(worst, Math.abs(y[i] - ref.y[i]) / q8Bound(K, ref.mag[i]));
          } else {
            const ref = matmulRef(x, M, K, dequantize(dt, wb, N * K), N);
            for (let i = 0; i < M * N; i++) worst = Math.max(worst, Math.abs(y[i] - ref.y[i]) / packedFloatBound(K, ref.mag[i]));
          }
          t.ok(worst <= 1, `${tag}: error/bound vs reference ${worst.toExponential(2)}`);
          // Batch invariance: each row alone, on 1 and 7 threads, bit for bit.
          let same = true;
          for (const m of new Set([0, M >> 1, M - 1])) {
            for (const threads of [1, 7]) {
              const row = unwrap(ops.matmul(x.slice(m * K, (m + 1) * K), 1, K, wb, dt, N, threads, packed));
              for (let n = 0; n < N; n++) if (row[n] !== y[m * N + n]) same = false;
            }
          }
          t.ok(same, `${tag}: a row alone (1 and 7 threads) equals it in the batch`);
          // A row alone with the batch-1 software prefetch on and off (the
          // default depends on the CPU; off, f16/bf16 take the whole-line
          // kernel x16_row): the same bits either way.
          const before = unwrap(ops.decodePrefetch());
          let sameBoth = true;
          try {
            for (const on of [true, false]) {
              t.equal(unwrap(ops.decodePrefetch(on)), on, `${tag}: prefetch set ${String(on)}`);
              const row = unwrap(ops.matmul(x.slice(0, K), 1, K, wb, dt, N, 2, packed));
              for (let n = 0; n < N; n++) if (row[n] !== y[n]) sameBoth = false;
            }
          } finally {
            unwrap(ops.decodePrefetch(before));
          }
          t.ok(sameBoth, `${tag}: a row alone with the batch-1 prefetch on and off equals it in the batch`);
        }
      }
      t.equal(code(ops.packWeights(new Uint8Array(34 * 10), 'q8_0', 10, 32)), 'HIPSERVE_E_INVALID_ARGUMENT', 'N not a multiple of 16');
      t.equal(code(ops.packWeights(new Uint8Array(34 * 16), 'q8_0', 16, 33)), 'HIPSERVE_E_INVALID_ARGUMENT', 'Q8_0 K not a multiple of 32');
      t.equal(code(ops.packWeights(new Uint8Array(4 * 16 * 8), 'f32', 16, 8)), 'HIPSERVE_E_INVALID_ARGUMENT', 'f32 has no packed layout');
      const w16 = new Uint8Array(34 * 16);
      t.equal(code(ops.matmul(new Float32Array(32), 1, 32, w16, 'q8_0', 16, undefined, new Uint8Array(10))), 'HIPSERVE_E_INVALID_ARGUMENT', 'packed of the wrong size');
      t.equal(code(ops.matmul(new Float32Array(32), 1, 32, new Uint8Array(4 * 32 * 16), 'f32', 16, undefined, new Uint8Array(4 * 32 * 16))), 'HIPSERVE_E_INVALID_ARGUMENT', 'packed with f32 weights');
    });
    t.end();
  });
}

t.test('embed gathers rows of any dtype', (t) => {
  const r = rng(5);
  for (const dt of ['f32', 'f16', 'bf16', 'q8_0'] as DTypeName[]) {
    const rows = 11, cols = 64;
    const tb = unwrap(ops.quantize(randn(r, rows * cols), dt));
    const ids = new Int32Array([3, 0, 10, 3]);
    const out = unwrap(ops.embed(tb, dt, rows, cols, ids));
    const deq = dequantize(dt, tb, rows * cols);
    const want = Array.from(ids).flatMap((id) => Array.from(deq.subarray(id * cols, (id + 1) * cols)));
    t.same(Array.from(out), want, dt);
  }
  const bad = ops.embed(new Uint8Array(4 * 8), 'f32', 2, 4, new Int32Array([2]));
  t.equal(bad.ok, false, 'an id past the table is an error Result');
  t.end();
});

t.test('wrong sizes are error Results, wrong types throw', (t) => {
  const x = new Float32Array(64);
  const w = new Uint8Array(64 * 4 * 2);
  t.equal(code(ops.matmul(x, 1, 64, w, 'f32', 2)), 'ok');
  t.equal(code(ops.matmul(x, 2, 64, w, 'f32', 2)), 'HIPSERVE_E_INVALID_ARGUMENT', 'x too short');
  t.equal(code(ops.matmul(x, 1, 64, w, 'f32', 3)), 'HIPSERVE_E_INVALID_ARGUMENT', 'weights too short');
  t.equal(code(ops.matmul(x, 1, 64, w, 'f64' as DTypeName, 2)), 'HIPSERVE_E_INVALID_ARGUMENT', 'unknown dtype');
  t.equal(code(ops.matmul(x.subarray(0, 48), 1, 48, new Uint8Array(34 * 3), 'q8_0', 2)), 'HIPSERVE_E_INVALID_ARGUMENT', 'K not a multiple of 32');
  t.equal(code(ops.matmul(x, 0, 64, w, 'f32', 2)), 'HIPSERVE_E_INVALID_ARGUMENT', 'M = 0');
  t.equal(code(ops.matmul(x, 1.5, 64, w, 'f32', 2)), 'HIPSERVE_E_INVALID_ARGUMENT', 'fractional M');
  t.equal(code(ops.dequantize(new Uint8Array(10), 'f16', 6)), 'HIPSERVE_E_INVALID_ARGUMENT');
  t.equal(code(ops.quantize(new Float32Array(33), 'q8_0')), 'HIPSERVE_E_INVALID_ARGUMENT');
  t.equal(code(ops.setSimdLevel('sse9')), 'HIPSERVE_E_INVALID_ARGUMENT');
  t.throws(() => ops.matmul(Array.from(x) as unknown as Float32Array, 1, 64, w, 'f32', 2), TypeError);
  t.throws(() => ops.matmul(x, '1' as unknown as number, 64, w, 'f32', 2), TypeError);
  t.throws(() => ops.quantize(x, 3 as unknown as DTypeName), TypeError);
  t.throws(() => ops.decodePrefetch(1 as unknown as boolean), TypeError);
  t.equal(unwrap(ops.matmul(x, 1, 64, w, 'f32', 2)).length, 2, 'the addon still answers');
  t.end();
});

// The bench's roofline reads (bench/decode.ts): a burst reading and a
// sustained one over back-to-back passes. Only their form is checked here;
// tests assert no timing.
t.test('readBandwidth: burst and sustained readings, bad arguments are error Results', (t) => {
  const burst = unwrap(ops.readBandwidth(4 << 20, 2));
  t.ok(Number.isFinite(burst.gbPerSecond) && burst.gbPerSecond >= 0, 'burst reading is a finite, non-negative rate');
  const sustained = unwrap(ops.readBandwidth(4 << 20, 2, 3));
  t.ok(Number.isFinite(sustained.gbPerSecond) && sustained.gbPerSecond >= 0, 'sustained reading is a finite, non-negative rate');
  t.equal(code(ops.readBandwidth(1024, 2)), 'HIPSERVE_E_INVALID_ARGUMENT', 'below 1 MiB');
  t.equal(code(ops.readBandwidth(4 << 20, 2, 100001)), 'HIPSERVE_E_INVALID_ARGUMENT', 'too many passes');
  t.equal(code(ops.readBandwidth(4 << 20, 2, -1)), 'HIPSERVE_E_INVALID_ARGUMENT', 'negative passes');
  t.end();
});
