// The row/element kernels of kernels/*.hip (rmsnorm, q/k norm, rope in both
// layouts, SiLU*mul, adds, embedding gather, GEMV over f32/f16/bf16/Q8_0) run
// on the HIP emulator and compared with the CPU backend (exports.ops) on
// random inputs of awkward sizes, at wavefront 64 and at 32.
import t from 'tap';
import type { Test } from 'tap';

import { ops, unwrap } from '../native/kernels-addon.js';
import { dequantize, matmulRef, quantize, randn, rng } from '../native/reference.js';
import type { DType } from '../native/reference.js';
import { WAVES, atWave, closeness, hipEmu, missingReason } from './emu.js';
import type { HipEmu } from './emu.js';

function cases(emu: HipEmu, lanes: number): void {
  const r = rng(1000 + lanes);
  // Each case sets the wavefront width inside its own synchronous body.
  const test = (name: string, fn: (t: Test) => void): void => {
    void t.test(`${name}, wave${lanes}`, (t) => {
      atWave(emu, lanes, () => {
        fn(t);
      });
      t.end();
    });
  };

  test('rmsnorm, including the per-head q/k norm shape', (t) => {
    for (const [rows, dim] of [[3, 37], [2, 1100], [7 * 5, 64], [1, 1]]) {
      const x = randn(r, rows * dim, 3);
      const w = randn(r, dim);
      const got = unwrap(emu.rmsnorm(x, w, rows, dim, 1e-6));
      t.ok(closeness(got, unwrap(ops.rmsnorm(x, w, rows, dim, 1e-6)), 1e-6, 1e-5) <= 1, `${rows}x${dim}`);
    }
  });

  test('rope, neox and interleaved, partial rotary, llama3 scaling', (t) => {
    const T = 5, H = 3, D = 18;
    const x = randn(r, T * H * D);
    const pos = Int32Array.from([0, 1, 7, 100, 8191]);
    for (const p of [
      { style: 'neox' as const, theta: 10000 },
      { style: 'interleaved' as const, theta: 500000 },
      { style: 'neox' as const, theta: 1e6, rotaryDim: 8 },
      { style: 'neox' as const, theta: 500000, llama3Factor: 8, llama3OriginalMaxPos: 64 },
    ]) {
      const got = unwrap(emu.rope(x, pos, H, D, p));
      t.ok(closeness(got, unwrap(ops.rope(x, pos, H, D, p)), 1e-5, 1e-5) <= 1, JSON.stringify(p));
    }
  });

  test('silu*mul, add, bias add', (t) => {
    const n = 1237;
    const g = randn(r, n, 4), u = randn(r, n);
    t.ok(closeness(unwrap(emu.siluMul(g, u)), unwrap(ops.siluMul(g, u)), 1e-6, 1e-5) <= 1, 'siluMul');
    t.ok(closeness(unwrap(emu.add(g, u)), unwrap(ops.add(g, u)), 0, 0) <= 1, 'add is exact');
    const rows = 7, cols = 131;
    const x = randn(r, rows * cols), b = randn(r, cols);
    t.ok(closeness(unwrap(emu.addBias(x, b, rows, cols)), unwrap(ops.addBias(x, b, rows, cols)), 0, 0) <= 1, 'addBias is exact');
  });

  for (const dtype of ['f32', 'f16', 'bf16', 'q8_0'] as DType[]) {
    test(`embedding gather and gemv over ${dtype}`, (t) => {
      const rows = 37, cols = 96;
      const table = quantize(dtype, randn(r, rows * cols));
      const ids = Int32Array.from([0, 36, 5, 5, 17]);
      const got = unwrap(emu.embed(table, dtype, rows, cols, ids));
      t.ok(closeness(got, unwrap(ops.embed(table, dtype, rows, cols, ids)), 0, 0) <= 1, 'embed is exact');

      for (const [M, K, N] of [[1, 96, 37], [5, 160, 13], [3, 1024, 3]]) {
        const w = quantize(dtype, randn(r, N * K, 0.5));
        const x = randn(r, M * K);
        const got = unwrap(emu.gemv(x, M, K, w, dtype, N));
        // Against the exact product of the dequantized weights; the CPU's
        // Q8_0 path also rounds x to int8, so it is compared within that.
        const { y: exact, mag } = matmulRef(x, M, K, dequantize(dtype, w, N * K), N);
        t.ok(closeness(got, exact, 1e-4, 1e-4) <= 1, `M=${M} K=${K} N=${N} vs the exact product`);
        // (threads = 1: the CPU result does not depend on the pool)
        const cpu = unwrap(ops.matmul(x, M, K, w, dtype, N, 1));
        // int8 activations: each product is off by at most |x w| / 127
        const bound = (i: number): number => (dtype === 'q8_0' ? mag[i] / 127 : 1e-4 * (1 + mag[i]));
        t.ok(got.every((v, i) => Math.abs(v - cpu[i]) <= bound(i)), `M=${M} K=${K} N=${N} vs ops.matmul`);
      }
    });
  }
}

const emu = hipEmu;
if (emu === undefined) t.fail(missingReason);
else for (const lanes of WAVES) cases(emu, lanes);
