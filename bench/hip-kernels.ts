// HIP kernel bench: the roofline targets of bench/ROOFLINE.md for each kernel
// of one Llama-3.1-8B decode step (bf16 and Q8_0) on MI300X and RX 7900 XTX.
//   node --import tsx bench/hip-kernels.ts [--context 4096]
// On a machine without a ROCm GPU (no /dev/kfd) it prints the targets and
// "no GPU". With a GPU it still prints targets only: the timing entry point
// of libhipserve_hip.so (HIP events around each launcher) is not written yet.
import { existsSync } from 'node:fs';

interface Gpu {
  name: string;
  bytesPerSecond: number;
  flopsPerSecond: number;
}
const GPUS: Gpu[] = [
  { name: 'MI300X', bytesPerSecond: 5.3e12, flopsPerSecond: 1300e12 },
  { name: 'RX 7900 XTX', bytesPerSecond: 960e9, flopsPerSecond: 123e12 },
];
const LAUNCH_SECONDS = 3e-6; // ROCm kernel launch latency, order of magnitude

// Llama-3.1-8B
const HIDDEN = 4096, LAYERS = 32, HEADS = 32, KV_HEADS = 8, HEAD_DIM = 128, MLP = 14336, VOCAB = 128256;

interface Kernel {
  name: string;
  perLayer: boolean;
  weights: number; // weight elements read
  otherBytes: number; // activations, KV cache
  flops: number;
}

function kernels(context: number): Kernel[] {
  const kvBytes = 2 * context * KV_HEADS * HEAD_DIM * 4; // f32 K and V
  const gemv = (name: string, n: number, k: number): Kernel => ({ name, perLayer: true, weights: n * k, otherBytes: 4 * (n + k), flops: 2 * n * k });
  const small = (name: string, bytes: number, flops: number): Kernel => ({ name, perLayer: true, weights: 0, otherBytes: bytes, flops });
  return [
    small('rmsnorm x2', 2 * 3 * 4 * HIDDEN, 2 * 3 * HIDDEN),
    gemv('gemv q', HEADS * HEAD_DIM, HIDDEN),
    gemv('gemv k', KV_HEADS * HEAD_DIM, HIDDEN),
    gemv('gemv v', KV_HEADS * HEAD_DIM, HIDDEN),
    small('rope q+k', 2 * 4 * (HEADS + KV_HEADS) * HEAD_DIM, 6 * (HEADS + KV_HEADS) * HEAD_DIM),
    small('kv_write', 4 * 4 * KV_HEADS * HEAD_DIM, 0),
    small(`attention decode L=${context}`, kvBytes, 4 * context * HEADS * HEAD_DIM),
    gemv('gemv o', HIDDEN, HEADS * HEAD_DIM),
    gemv('gemv gate', MLP, HIDDEN),
    gemv('gemv up', MLP, HIDDEN),
    small('silu*mul', 3 * 4 * MLP, 4 * MLP),
    gemv('gemv down', HIDDEN, MLP),
    small('residual adds', 2 * 3 * 4 * HIDDEN, 2 * HIDDEN),
    { name: 'lm_head gemv', perLayer: false, weights: VOCAB * HIDDEN, otherBytes: 4 * (VOCAB + HIDDEN), flops: 2 * VOCAB * HIDDEN },
    { name: 'sample (18 passes)', perLayer: false, weights: 0, otherBytes: 18 * 4 * VOCAB, flops: 10 * VOCAB },
  ];
}

const BYTES_PER_WEIGHT = { bf16: 2, q8_0: 34 / 32 } as const;

function target(k: Kernel, dtype: keyof typeof BYTES_PER_WEIGHT, gpu: Gpu): { seconds: number; bound: string } {
  const bytes = k.weights * BYTES_PER_WEIGHT[dtype] + k.otherBytes;
  const mem = bytes / gpu.bytesPerSecond, compute = k.flops / gpu.flopsPerSecond;
  const t = Math.max(mem, compute);
  if (t < LAUNCH_SECONDS) return { seconds: LAUNCH_SECONDS, bound: 'launch' };
  return { seconds: t, bound: mem >= compute ? 'memory' : 'compute' };
}

const us = (s: number): string => `${(s * 1e6).toFixed(1)} µs`;

const ctxArg = process.argv.indexOf('--context');
const context = ctxArg > 0 ? Number(process.argv[ctxArg + 1]) : 4096;
const list = kernels(context);
for (const dtype of ['bf16', 'q8_0'] as const) {
  console.log(`\nLlama-3.1-8B decode, batch 1, ${dtype} weights, f32 KV, context ${context}`);
  console.log(['kernel'.padEnd(30), ...GPUS.map((g) => g.name.padStart(24))].join(''));
  const totals = GPUS.map(() => 0);
  for (const k of list) {
    const cells = GPUS.map((g, i) => {
      const r = target(k, dtype, g);
      totals[i] += r.seconds * (k.perLayer ? LAYERS : 1);
      return `${us(r.seconds)} ${r.bound}`.padStart(24);
    });
    console.log([`${k.name}${k.perLayer ? ' (x32)' : ''}`.padEnd(30), ...cells].join(''));
  }
  console.log(['step total'.padEnd(30), ...totals.map((s) => `${(s * 1e3).toFixed(2)} ms`.padStart(24))].join(''));
}

const hasGpu = existsSync('/dev/kfd');
console.log(hasGpu ? '\nROCm GPU present: measured times need the library timing entry point (not written yet)' : '\nno GPU (/dev/kfd absent): targets only');
