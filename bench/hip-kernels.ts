// HIP kernel bench: the roofline targets of bench/ROOFLINE.md for each kernel
// of one Llama-3.1-8B decode step (bf16 and Q8_0) on MI300X and RX 7900 XTX,
// then, where the `hip` backend has a GPU, each kernel timed on it next to
// its target.
//   node --import tsx bench/hip-kernels.ts [--context 4096] [--iterations 20]
//        [--flush-mib 512] [--emu]
// Timing goes through libhipserve_hip.so's hs_hip_time_kernels (native/hip/
// kernel_timing.cc, exports.hipKernelTimes): every launcher a decode step
// runs, one warm-up launch then --iterations launches timed with HIP events,
// a --flush-mib buffer overwritten before each so that weights come from
// memory and not the last-level cache. The library is the one `--device hip`
// uses (HIPSERVE_HIP_LIB first). Without a GPU it prints the targets and the
// backend's reason. --emu runs the timing on libhipserve_hip_emu.so (the
// library's ABI on the CPU emulator) with tiny shapes, to exercise the path
// on a machine without a GPU: those times mean nothing.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { addonCandidates, hipKernelTimes, listBackends } from '../src/native.js';
import type { HipKernelTime } from '../src/native.js';

interface Gpu {
  name: string;
  arch: string;
  bytesPerSecond: number;
  flopsPerSecond: number;
}
const GPUS: Gpu[] = [
  { name: 'MI300X', arch: 'gfx942', bytesPerSecond: 5.3e12, flopsPerSecond: 1300e12 },
  { name: 'RX 7900 XTX', arch: 'gfx1100', bytesPerSecond: 960e9, flopsPerSecond: 123e12 },
];
const LAUNCH_SECONDS = 3e-6; // ROCm kernel launch latency, order of magnitude

interface Shape {
  name: string;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  mlp: number;
  vocab: number;
  context: number;
}
const llama = (context: number): Shape => ({
  name: 'Llama-3.1-8B', hidden: 4096, layers: 32, heads: 32, kvHeads: 8, headDim: 128, mlp: 14336, vocab: 128256, context,
});
// --emu: small enough for the emulator (a GEMV row is a block of 256 fibers there).
const tiny = (context: number): Shape => ({
  name: 'tiny (emulator)', hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, mlp: 128, vocab: 512, context,
});

interface Kernel {
  name: string;
  perLayer: boolean;
  weights: number; // weight elements read
  otherBytes: number; // activations, KV cache
  flops: number;
  parts: string[]; // the launches of hs_hip_time_kernels this row adds up
}

function kernels(s: Shape): Kernel[] {
  const kvBytes = 2 * s.context * s.kvHeads * s.headDim * 4; // f32 K and V
  const qd = s.heads * s.headDim, kd = s.kvHeads * s.headDim;
  const gemv = (name: string, n: number, k: number, part: string): Kernel =>
    ({ name, perLayer: true, weights: n * k, otherBytes: 4 * (n + k), flops: 2 * n * k, parts: [part] });
  const small = (name: string, bytes: number, flops: number, parts: string[]): Kernel =>
    ({ name, perLayer: true, weights: 0, otherBytes: bytes, flops, parts });
  return [
    small('rmsnorm x2', 2 * 3 * 4 * s.hidden, 2 * 3 * s.hidden, ['rmsnorm', 'rmsnorm']),
    gemv('gemv q', qd, s.hidden, 'gemv q'),
    gemv('gemv k', kd, s.hidden, 'gemv k'),
    gemv('gemv v', kd, s.hidden, 'gemv v'),
    small('rope q+k', 2 * 4 * (qd + kd), 6 * (qd + kd), ['rope q', 'rope k']),
    small('kv_write', 4 * 4 * kd, 0, ['kv_write']),
    small(`attention decode L=${s.context}`, kvBytes, 4 * s.context * qd, ['attn_decode']),
    gemv('gemv o', s.hidden, qd, 'gemv o'),
    gemv('gemv gate', s.mlp, s.hidden, 'gemv gate'),
    gemv('gemv up', s.mlp, s.hidden, 'gemv up'),
    small('silu*mul', 3 * 4 * s.mlp, 4 * s.mlp, ['silu_mul']),
    gemv('gemv down', s.hidden, s.mlp, 'gemv down'),
    small('residual adds', 2 * 3 * 4 * s.hidden, 2 * s.hidden, ['add', 'add']),
    { ...gemv('lm_head gemv', s.vocab, s.hidden, 'gemv lm_head'), perLayer: false },
    { name: 'sample (18 passes)', perLayer: false, weights: 0, otherBytes: 18 * 4 * s.vocab, flops: 10 * s.vocab, parts: ['sample'] },
  ];
}

const BYTES_PER_WEIGHT = { bf16: 2, q8_0: 34 / 32 } as const;
type Dtype = keyof typeof BYTES_PER_WEIGHT;
const DTYPES: Dtype[] = ['bf16', 'q8_0'];

const bytesOf = (k: Kernel, dtype: Dtype): number => k.weights * BYTES_PER_WEIGHT[dtype] + k.otherBytes;

function target(k: Kernel, dtype: Dtype, gpu: Gpu): { seconds: number; bound: string } {
  const mem = bytesOf(k, dtype) / gpu.bytesPerSecond, compute = k.flops / gpu.flopsPerSecond;
  const t = Math.max(mem, compute);
  if (t < LAUNCH_SECONDS) return { seconds: LAUNCH_SECONDS, bound: 'launch' };
  return { seconds: t, bound: mem >= compute ? 'memory' : 'compute' };
}

const us = (s: number): string => `${(s * 1e6).toFixed(1)} µs`;
const dur = (s: number): string => (s < 1e-3 ? us(s) : `${(s * 1e3).toFixed(2)} ms`);
const mib = (b: number): string => (b < 2 ** 20 ? `${(b / 1024).toFixed(0)} KiB` : `${(b / 2 ** 20).toFixed(0)} MiB`);
const times = (s: Shape, k: { perLayer: boolean }): number => (k.perLayer ? s.layers : 1);

function printTargets(s: Shape): void {
  for (const dtype of DTYPES) {
    console.log(`\n${s.name} decode, batch 1, ${dtype} weights, f32 KV, context ${s.context}: targets`);
    console.log(['kernel'.padEnd(30), ...GPUS.map((g) => g.name.padStart(24))].join(''));
    const totals = GPUS.map(() => 0);
    for (const k of kernels(s)) {
      const cells = GPUS.map((g, i) => {
        const r = target(k, dtype, g);
        totals[i] += r.seconds * times(s, k);
        return `${us(r.seconds)} ${r.bound}`.padStart(24);
      });
      console.log([`${k.name}${k.perLayer ? ` (x${s.layers})` : ''}`.padEnd(30), ...cells].join(''));
    }
    console.log(['step total'.padEnd(30), ...totals.map((t) => `${(t * 1e3).toFixed(2)} ms`.padStart(24))].join(''));
  }
}

// Measured rows, each next to its target on the GPU that ran it (both
// GPUs of the table when the arch is neither): the table's rows add up the
// launches in `parts`; a launch no row holds (embed) gets a target from its
// own bytes and FLOPs, marked '*'.
function printMeasured(s: Shape, dtype: Dtype, measured: HipKernelTime[], device: string): void {
  const gpus = GPUS.some((g) => device.includes(g.arch)) ? GPUS.filter((g) => device.includes(g.arch)) : GPUS;
  const byName = new Map(measured.map((m) => [m.name, m]));
  const head = ['kernel'.padEnd(30), 'measured'.padStart(12), 'GB/s'.padStart(9)];
  console.log([...head, ...gpus.flatMap((g) => [`${g.name} target`.padStart(20), 'ratio'.padStart(11)])].join(''));
  const row = (label: string, seconds: number, bytes: number, targets: number[]): void => {
    const gbs = bytes / seconds / 1e9;
    const cells = targets.flatMap((t) => [dur(t).padStart(20), `${(seconds / t).toFixed(2)}x`.padStart(11)]);
    console.log([label.padEnd(30), dur(seconds).padStart(12), (gbs < 0.1 ? gbs.toExponential(1) : gbs.toFixed(1)).padStart(9), ...cells].join(''));
  };
  const used = new Set<string>();
  const mismatched: string[] = [];
  let targetStep = gpus.map(() => 0);
  for (const k of kernels(s)) {
    const parts = k.parts.map((p) => byName.get(p));
    if (parts.some((p) => p === undefined)) {
      console.log(`${k.name.padEnd(30)}not measured (the library has no ${k.parts.join(' + ')})`);
      continue;
    }
    const ms = parts.map((p) => p as HipKernelTime);
    ms.forEach((m) => used.add(m.name));
    const seconds = ms.reduce((a, m) => a + m.meanMs, 0) / 1e3, bytes = ms.reduce((a, m) => a + m.bytes, 0);
    if (Math.abs(bytes - bytesOf(k, dtype)) > 0.01 * bytesOf(k, dtype)) mismatched.push(k.name);
    const targets = gpus.map((g) => target(k, dtype, g).seconds);
    targetStep = targetStep.map((t, i) => t + targets[i] * times(s, k));
    row(`${k.name}${k.perLayer ? ` (x${s.layers})` : ''}`, seconds, bytes, targets);
  }
  for (const m of measured.filter((x) => !used.has(x.name))) {
    const k: Kernel = { name: m.name, perLayer: m.perLayer > 0, weights: 0, otherBytes: m.bytes, flops: m.flops, parts: [] };
    row(`${m.name} *`, m.meanMs / 1e3, m.bytes, gpus.map((g) => target(k, dtype, g).seconds));
  }
  // The step: every launch as often as a decode step makes it.
  const step = measured.reduce((a, m) => a + (m.meanMs / 1e3) * (m.perLayer * s.layers + m.perStep), 0);
  const stepBytes = measured.reduce((a, m) => a + m.bytes * (m.perLayer * s.layers + m.perStep), 0);
  row('step (sum of launches)', step, stepBytes, targetStep);
  console.log('* not a row of ROOFLINE.md: target from its own bytes; the step adds it and the final rmsnorm');
  if (mismatched.length > 0) console.log(`bytes differ from the table's accounting for: ${mismatched.join(', ')}`);
}

function argNumber(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a non-negative number`);
  return v;
}

async function measure(emu: boolean, context: number): Promise<void> {
  if (emu) {
    const addon = addonCandidates().find((p) => existsSync(p));
    const lib = addon === undefined ? undefined : join(dirname(addon), 'libhipserve_hip_emu.so');
    if (lib === undefined || !existsSync(lib)) {
      console.log('\n--emu: no libhipserve_hip_emu.so next to the addon (cmake/hip.cmake, HIPSERVE_HIP_EMU_LIB=ON)');
      return;
    }
    process.env.HIPSERVE_HIP_LIB = lib; // before the addon's first probe of the hip library
  }
  let reason: string | undefined;
  try {
    const backends = listBackends();
    const hip = backends.ok ? backends.value.find((b) => b.name === 'hip') : undefined;
    if (!backends.ok) reason = backends.error.message;
    else if (hip === undefined) reason = 'this addon has no hip backend';
    else if (!hip.available) reason = hip.reason;
  } catch (e) {
    reason = e instanceof Error ? e.message : String(e);
  }
  if (reason !== undefined) {
    console.log(`\nno timing: the hip backend is not available here: ${reason}`);
    return;
  }
  const shape = emu ? tiny(context) : llama(context);
  const iterations = argNumber('--iterations', emu ? 2 : 20);
  const flushBytes = argNumber('--flush-mib', emu ? 0 : 512) * 2 ** 20;
  if (emu) {
    console.log('\nEMULATOR RUN: libhipserve_hip_emu.so runs the kernels as CPU fibers. These times mean NOTHING');
    console.log('about a GPU (nor do the ratios); the run only exercises the timing path end to end.');
  }
  for (const dtype of DTYPES) {
    const r = await hipKernelTimes({
      hidden: shape.hidden, heads: shape.heads, kvHeads: shape.kvHeads, headDim: shape.headDim, intermediate: shape.mlp,
      vocab: shape.vocab, context: shape.context, blockSize: 16, dtype, iterations, flushBytes,
    });
    console.log(`\n${shape.name} decode, ${dtype}, context ${shape.context}: measured on ${r.ok ? r.value.device : 'the hip device'}`);
    if (!r.ok) {
      console.log(`timing failed: ${r.error.code}: ${r.error.message}`);
      continue;
    }
    console.log(`${iterations} timed launches per kernel, ${flushBytes > 0 ? `${flushBytes / 2 ** 20} MiB flushed before each` : 'back to back'}; ` +
      `${mib(r.value.deviceBytes)} of device memory; ${r.value.library}`);
    printMeasured(shape, dtype, r.value.kernels, emu ? '' : r.value.device);
  }
}

const emu = process.argv.includes('--emu');
const context = argNumber('--context', emu ? 128 : 4096);
printTargets(llama(emu && !process.argv.includes('--context') ? 4096 : context));
await measure(emu, context);
