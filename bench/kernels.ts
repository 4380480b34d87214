// Kernel bench: memory read bandwidth (the decode roofline) and matmul
// throughput for f16 and Q8_0 weights at M = 1 and M = 8.
//   node --import tsx bench/kernels.ts        (HIPSERVE_ADDON=path to pick a build)
// Prints, per case, GB/s of weights streamed, GFLOP/s, and the fraction of
// the measured read bandwidth at the same thread count. No asserts.
import { ops as nativeOps } from '../src/native.js';

interface Res<T> { ok: boolean; value: T; error?: { message: string } }
interface Ops {
  simdLevel(): Res<string>;
  setSimdLevel(l: string): Res<string>;
  threads(): Res<number>;
  readBandwidth(bytes: number, threads: number): Res<{ gbPerSecond: number }>;
  quantize(x: Float32Array, dtype: string): Res<Uint8Array>;
  benchMatmul(
    x: Float32Array, M: number, K: number, w: Uint8Array, dtype: string, N: number, iters: number, threads?: number, copies?: number,
  ): Res<{ best: number; mean: number; cpuBest: number }>;
}

const ops = nativeOps() as unknown as Ops;
const get = <T>(r: Res<T>): T => {
  if (!r.ok) throw new Error(r.error?.message ?? 'op failed');
  return r.value;
};

if (process.env.HIPSERVE_BENCH_SIMD) get(ops.setSimdLevel(process.env.HIPSERVE_BENCH_SIMD));
const maxThreads = get(ops.threads());
const threadCounts = [...new Set([1, maxThreads])];

const bw = new Map<number, number>();
for (const th of threadCounts) bw.set(th, get(ops.readBandwidth(512 << 20, th)).gbPerSecond);
console.log(`simd ${get(ops.simdLevel())}, pool ${maxThreads} threads`);
for (const [th, g] of bw) console.log(`read bandwidth, ${th} thread${th > 1 ? 's' : ''}: ${g.toFixed(1)} GB/s`);
console.log('');

const shapes: [string, number, number][] = [
  ['768 -> 2048 (N=2048, K=768)', 2048, 768],
  ['2048 -> 768 (N=768, K=2048)', 768, 2048],
  ['32000 x 768 (lm head)', 32000, 768],
];
const rows: string[][] = [['weights', 'shape', 'M', 'threads', 'ms', 'cpu ms', 'GB/s', 'GFLOP/s', 'x roofline']];
for (const dtype of ['f16', 'q8_0']) {
  for (const [name, N, K] of shapes) {
    const one = get(ops.quantize(Float32Array.from({ length: N * K }, () => Math.random() - 0.5), dtype));
    // enough copies to exceed the last-level cache: each call streams from memory
    const copies = Math.max(2, Math.ceil((160 << 20) / one.length));
    const w = new Uint8Array(one.length * copies);
    for (let c = 0; c < copies; c++) w.set(one, c * one.length);
    for (const M of [1, 8]) {
      const x = Float32Array.from({ length: M * K }, () => Math.random() - 0.5);
      for (const th of threadCounts) {
        const iters = Math.max(2 * copies, Math.min(400, Math.round(4e9 / one.length / M)));
        const t = get(ops.benchMatmul(x, M, K, w, dtype, N, iters, th, copies));
        const s = t.best;
        const gbs = one.length / s / 1e9;
        rows.push([dtype, name, `${M}`, `${th}`, (s * 1e3).toFixed(3), th === 1 ? (t.cpuBest * 1e3).toFixed(3) : '', gbs.toFixed(1),
          ((2 * M * N * K) / s / 1e9).toFixed(1), (gbs / (bw.get(th) ?? 1)).toFixed(2)]);
      }
    }
  }
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows) console.log(r.map((v, c) => v.padStart(widths[c])).join('  '));
console.log('\nms = best wall time per call (one warm-up); cpu ms = the calling thread\'s CPU time (1 thread: all the work,\n' +
  'unaffected by other processes); weights cycle through copies larger than the L3, as a real model\'s layers do;\n' +
  'x roofline = weight GB/s / read bandwidth at the same thread count.');
