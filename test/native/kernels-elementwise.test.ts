// rmsnorm / rope / siluMul / add / addBias against test/native/reference.ts.
import t from 'tap';
import { atLevel, levels, ops, unwrap } from './kernels-addon.js';
import { randn, rmsnormRef, rng, ropeRef, siluMulRef, type RopeRefParams } from './reference.js';

const U = 2 ** -24;

function worstRel(got: Float32Array, want: Float64Array, scale: (i: number) => number): number {
  let w = 0;
  for (let i = 0; i < got.length; i++) w = Math.max(w, Math.abs(got[i] - want[i]) / scale(i));
  return w;
}

for (const level of levels()) {
  t.test(`element-wise kernels at ${level}`, (t) => {
    atLevel(level, () => {
      const r = rng(11);
      // rmsnorm: sum of squares in f64, then x * inv * w in f32: 3 roundings
      // of the f64 result plus the f32 1/sqrt: bound 8u * |x inv w|.
      for (const [rows, dim] of [[1, 7], [3, 768], [17, 33]]) {
        const x = randn(r, rows * dim, 2);
        const w = randn(r, dim);
        const y = unwrap(ops.rmsnorm(x, w, rows, dim, 1e-5));
        const ref = rmsnormRef(x, w, rows, dim, 1e-5);
        t.ok(worstRel(y, ref, (i) => 8 * U * Math.abs(ref[i]) + 1e-30) <= 1, `rmsnorm ${rows}x${dim}`);
      }
      // rope: angles and cos/sin in f64 rounded to f32 (1 rounding each), then
      // a*c - b*s in f32 (3 more): bound 6u * (|a| + |b|).
      const cases: [string, RopeRefParams][] = [
        ['neox', { theta: 10000, style: 'neox' }],
        ['interleaved', { theta: 500000, style: 'interleaved' }],
        ['neox partial rotary', { theta: 10000, style: 'neox', rotaryDim: 32 }],
        ['llama3 scaling', { theta: 500000, style: 'neox', llama3: { factor: 8, low: 1, high: 4, originalMaxPos: 8192 } }],
        ['llama3 interleaved', { theta: 500000, style: 'interleaved', llama3: { factor: 32, low: 1, high: 4, originalMaxPos: 64 } }],
      ];
      for (const [name, p] of cases) {
        const T = 5, H = 3, D = 64;
        const x = randn(r, T * H * D);
        const pos = new Int32Array([0, 1, 17, 4095, 100000]);
        const y = unwrap(ops.rope(x, pos, H, D, {
          theta: p.theta, style: p.style, rotaryDim: p.rotaryDim ?? 0,
          ...(p.llama3 ? { llama3Factor: p.llama3.factor, llama3LowFreqFactor: p.llama3.low,
            llama3HighFreqFactor: p.llama3.high, llama3OriginalMaxPos: p.llama3.originalMaxPos } : {}),
        }));
        const ref = ropeRef(x, pos, H, D, p);
        let worst = 0;
        for (let i = 0; i < y.length; i++) {
          const base = i - (i % D);
          const mag = Math.abs(x[i]) + Math.max(...Array.from(x.subarray(base, base + D), Math.abs));
          worst = Math.max(worst, Math.abs(y[i] - ref[i]) / (6 * U * mag));
        }
        t.ok(worst <= 1, `rope ${name}: error/bound ${worst.toExponential(2)}`);
      }
      // silu*mul: f32 exp (<= 2 ulp in glibc) and 3 more roundings: 8u relative.
      const g = randn(r, 1001, 4), u = randn(r, 1001);
      g[0] = 90; g[1] = -90; g[2] = 0;
      const s = unwrap(ops.siluMul(g, u));
      const sref = siluMulRef(g, u);
      t.ok(worstRel(s, sref, (i) => 8 * U * Math.abs(sref[i]) + 1e-30) <= 1, 'siluMul (g = -90: exp overflows to inf, result -0, hence the 1e-30 absolute term)');
      // adds are single f32 roundings of exact sums: equal to fround
      const a = randn(r, 257), b = randn(r, 257);
      t.same(Array.from(unwrap(ops.add(a, b))), Array.from(a, (v, i) => Math.fround(v + b[i])), 'add');
      const bias = randn(r, 13);
      const xb = randn(r, 13 * 5);
      t.same(Array.from(unwrap(ops.addBias(xb, bias, 5, 13))), Array.from(xb, (v, i) => Math.fround(v + bias[i % 13])), 'addBias');
    });
    t.end();
  });
}

t.test('element-wise argument errors', (t) => {
  const x = new Float32Array(12);
  const bad = (r: { ok: boolean }) => !r.ok;
  t.ok(bad(ops.rmsnorm(x, new Float32Array(5), 2, 6, 1e-5)), 'rmsnorm weight length');
  t.ok(bad(ops.rope(x, new Int32Array(2), 2, 4, { style: 'neox' })), 'rope size');
  t.ok(bad(ops.rope(x, new Int32Array(1), 3, 4, { style: 'sideways' as 'neox' })), 'rope style');
  t.ok(bad(ops.rope(x, new Int32Array(1), 4, 3, {})), 'rope odd headDim');
  t.ok(bad(ops.siluMul(x, new Float32Array(3))), 'siluMul lengths');
  t.ok(bad(ops.addBias(x, new Float32Array(5), 2, 6)), 'addBias lengths');
  t.throws(() => ops.rope(x, new Float32Array(1) as unknown as Int32Array, 3, 4, {}), TypeError);
  t.end();
});
