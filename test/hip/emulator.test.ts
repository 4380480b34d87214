// The emulator's execution model and device memory: wavefront width as a
// run-time value (64 and 32), shuffles, ballots, block reductions, dynamic
// shared memory; out-of-bounds device accesses and barrier divergence become
// error Results and the process carries on; rocblas_gemm_ex follows rocBLAS's
// column-major semantics; the one row-major wrapper (native/hip/gemm.h) gives
// ops.matmul's product through rocBLAS and through the tiled kernel.
import t from 'tap';

import { ops, unwrap } from '../native/kernels-addon.js';
import { dequantize, matmulRef, quantize, randn, rng } from '../native/reference.js';
import { WAVES, atWave, closeness, hipEmu, missingReason } from './emu.js';

const emu = hipEmu;
if (emu === undefined) {
  t.fail(missingReason);
} else {
  for (const lanes of WAVES) {
    t.test(`wave${lanes}: warpSize, lanes, shuffles, ballot, block sum, shared memory`, (t) => {
      atWave(emu, lanes, () => {
        const threads = 128, blocks = 2, F = 8;
        const out = unwrap(emu.probe('wave', blocks, threads));
        t.equal(unwrap(emu.deviceInfo()).warpSize, lanes, 'hipGetDeviceProperties reports the width');
        for (let b = 0; b < blocks; b++) {
          for (let tid = 0; tid < threads; tid++) {
            const o = out.subarray((b * threads + tid) * F, (b * threads + tid + 1) * F);
            const lane = tid % lanes, wave0 = tid - lane;
            let ballot = 0n;
            for (let l = 0; l < lanes; l++) if ((wave0 + l) % 3 === 0) ballot |= 1n << BigInt(l);
            const down = lane + 3 < lanes ? tid + 3 : tid;
            const want = [lanes, lane, tid ^ 1, down, Number(BigInt.asIntN(32, ballot & 0xffffffffn)), Number(BigInt.asIntN(32, ballot >> 32n)), (threads * (threads - 1)) / 2, ((tid + 1) % threads) * 10];
            if (o.some((v, i) => v !== want[i])) {
              t.same(Array.from(o), want, `block ${b} thread ${tid}`);
              return;
            }
          }
        }
        t.pass('every thread of both blocks saw its wave as a GPU would');
      });
      t.end();
    });
  }

  t.test('a planted out-of-bounds write is an error Result naming the kernel and offset', (t) => {
    const before = unwrap(emu.deviceInfo()).bytesInUse;
    const ok = unwrap(emu.iota(16, 16));
    t.same(Array.from(ok), Array.from({ length: 16 }, (_, i) => i), 'in bounds: written');
    const r = emu.iota(100, 16);
    t.equal(r.ok, false, 'n = 100 into 16 ints fails');
    if (!r.ok) {
      t.equal(r.error.code, 'HIPSERVE_E_DEVICE');
      t.match(r.error.message, /^hipDeviceSynchronize: hipErrorIllegalAddress/);
      t.match(r.error.message, /iota_kernel, block \(0,0,0\), thread \(16,0,0\)/);
      t.match(r.error.message, /byte offset 64 of a 64-byte allocation/);
    }
    t.ok(unwrap(emu.iota(16, 16)).every((v, i) => v === i), 'the process and the device carry on');
    t.equal(unwrap(emu.deviceInfo()).bytesInUse, before, 'every buffer was freed, on failure too');
    t.end();
  });

  t.test('an out-of-bounds write to dynamic shared memory is caught too', (t) => {
    const r = emu.probe('sharedOob', 1, 64);
    t.equal(r.ok, false);
    if (!r.ok) t.match(r.error.message, /shared_oob_kernel.*thread \(63,0,0\).*byte offset 256 of a 256-byte allocation/);
    t.end();
  });

  t.test('threads waiting at different barriers are reported, not hung', (t) => {
    const r = emu.probe('badBarrier', 1, 64);
    t.equal(r.ok, false);
    if (!r.ok) t.match(r.error.message, /bad_barrier_kernel.*different barriers/);
    t.end();
  });

  t.test('rocblas_gemm_ex: column-major, op(A) and op(B), alpha and beta', (t) => {
    const r = rng(8);
    const m = 5, n = 3, k = 4, lda = 7, ldb = 6, ldc = 9;
    for (const [transA, transB] of [['N', 'N'], ['T', 'N'], ['N', 'T'], ['T', 'T']] as const) {
      const a = randn(r, lda * Math.max(m, k)), b = randn(r, ldb * Math.max(n, k)), c = randn(r, ldc * n);
      const A = (i: number, l: number) => (transA === 'N' ? a[i + l * lda] : a[l + i * lda]);
      const B = (l: number, j: number) => (transB === 'N' ? b[l + j * ldb] : b[j + l * ldb]);
      const want = Float64Array.from(c);
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < m; i++) {
          let s = 0;
          for (let l = 0; l < k; l++) s += A(i, l) * B(l, j);
          want[i + j * ldc] = 1.5 * s + 0.5 * c[i + j * ldc];
        }
      }
      const got = unwrap(emu.gemmEx({ transA, transB, m, n, k, alpha: 1.5, a, lda, b, ldb, beta: 0.5, c, ldc }));
      t.ok(closeness(got, want, 1e-5, 1e-5) <= 1, `${transA}${transB}`);
    }
    const bad = emu.gemmEx({ transA: 'N', transB: 'N', m: 5, n: 3, k: 4, alpha: 1, a: new Float32Array(4), lda: 5, b: new Float32Array(12), ldb: 4, beta: 0, c: new Float32Array(15), ldc: 5 });
    t.equal(bad.ok, false, 'an operand smaller than its extent is refused');
    if (!bad.ok) t.match(bad.error.message, /rocblas_status_invalid_pointer/);
    t.end();
  });

  t.test('row-major y = x W^T through rocblas_gemm_ex and the tiled kernel equals ops.matmul', (t) => {
    const r = rng(9);
    for (const dtype of ['f32', 'f16', 'bf16', 'q8_0'] as const) {
      const M = 7, K = 64, N = 19;
      const x = randn(r, M * K), w = quantize(dtype, randn(r, N * K, 0.3));
      // The CPU's Q8_0 path rounds x to int8; these paths do not: Q8_0 is
      // checked against the exact product of the dequantized weights.
      const want = dtype === 'q8_0' ? matmulRef(x, M, K, dequantize(dtype, w, N * K), N).y : unwrap(ops.matmul(x, M, K, w, dtype, N, 1));
      for (const path of ['rocblas', 'tiled'] as const) {
        const got = unwrap(emu.gemmRowMajor(x, M, K, w, dtype, N, path));
        // 16-bit weights take 16-bit activations through rocBLAS (A and B of
        // one type): a few parts in a thousand.
        const tol = path === 'rocblas' && (dtype === 'f16' || dtype === 'bf16') ? 2e-2 : 1e-4;
        t.ok(closeness(got, want, tol, tol) <= 1, `${dtype} via ${path}`);
      }
    }
    t.end();
  });
}
