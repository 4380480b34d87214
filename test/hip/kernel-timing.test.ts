// The kernel timing entry point of libhipserve_hip.so (native/hip/
// kernel_timing.cc, exports.hipKernelTimes) run without a GPU: through
// libhipserve_hip_emu.so, the same C ABI built against the emulator, found
// the way the `hip` device finds its library (HIPSERVE_HIP_LIB). Tiny shapes.
// Emulator times mean nothing: nothing here asserts a time's value, only
// that every kernel of a decode step ran and was measured, that the bytes
// and FLOPs are what the shapes imply, that wrong arguments come back as
// INVALID_ARGUMENT Results, and that no run leaves device memory behind.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { addonCandidates, hipKernelTimes } from '../../src/native.js';
import type { HipKernelTime, HipKernelTimes, HipKernelTimesArgs, NativeDType } from '../../src/native.js';

const addon = addonCandidates().find((p) => existsSync(p));
const lib = addon === undefined ? undefined : join(dirname(addon), 'libhipserve_hip_emu.so');
// Built with the addon on every machine (cmake/hip.cmake: HIPSERVE_HIP_EMU_LIB
// is ON by default, and `npm ci` passes no -D flags): missing is a broken
// build, a failure, as in emulator.test.ts, not a skip.
const missing = lib !== undefined && existsSync(lib) ? null : `libhipserve_hip_emu.so was not built next to the addon (${String(lib)}; HIPSERVE_HIP_EMU_LIB=OFF?)`;
// Before the addon loads: the hip backend probes its library once. The
// emulated device gets 1 MiB, about four runs' worth: a run that leaked its
// buffers would make the later ones fail with OUT_OF_MEMORY.
if (lib !== undefined) process.env.HIPSERVE_HIP_LIB = lib;
const BUDGET = 1 << 20;
process.env.HIPSERVE_EMU_MEMORY = String(BUDGET);

const EXPECTED = [
  'embed', 'rmsnorm', 'gemv q', 'gemv k', 'gemv v', 'rope q', 'rope k', 'kv_write', 'attn_decode',
  'gemv o', 'add', 'gemv gate', 'gemv up', 'silu_mul', 'gemv down', 'gemv lm_head', 'sample',
];

// hidden 64, 4 heads and 2 KV heads of 16, MLP 128, vocab 256; 40 cached
// tokens in blocks of 16 (the last block partly filled).
function shapes(dtype: NativeDType, extra: Partial<HipKernelTimesArgs> = {}): HipKernelTimesArgs {
  return { hidden: 64, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128, vocab: 256, context: 40, blockSize: 16, dtype, iterations: 2, ...extra };
}

function byName(ks: HipKernelTime[], name: string): HipKernelTime {
  const k = ks.find((x) => x.name === name);
  if (k === undefined) throw new Error(`no kernel ${name}`);
  return k;
}

const runs = new Map<NativeDType, HipKernelTimes>();

if (missing !== null) {
  t.fail(missing);
} else {
  t.test('every decode kernel is timed through the emulated library', async (t) => {
    for (const dtype of ['f32', 'f16', 'bf16', 'q8_0'] as const) {
      const r = await hipKernelTimes(shapes(dtype));
      if (!r.ok) throw r.error;
      runs.set(dtype, r.value);
      const ks = r.value.kernels;
      t.same(ks.map((k) => k.name), EXPECTED, `${dtype}: the kernels of one decode step, in step order`);
      t.ok(ks.every((k) => Number.isFinite(k.meanMs) && k.meanMs >= 0), `${dtype}: every kernel was measured (a finite, non-negative mean time)`);
      t.equal(r.value.library, lib, `${dtype}: the library HIPSERVE_HIP_LIB names`);
      t.ok(r.value.deviceBytes > 0 && r.value.deviceBytes < BUDGET, `${dtype}: ${r.value.deviceBytes} device bytes, within the budget`);
    }
  });

  t.test('bytes and FLOPs are the roofline accounting of the shapes', (t) => {
    const run = (d: NativeDType): HipKernelTimes => {
      const r = runs.get(d);
      if (r === undefined) throw new Error(`the ${d} run failed`);
      return r;
    };
    const [f32, q8, bf16] = [run('f32'), run('q8_0'), run('bf16')];
    // gemv q, f32: 64 x 64 weights of 4 bytes + x and y (64 + 64 floats).
    t.match(byName(f32.kernels, 'gemv q'), { bytes: 64 * 64 * 4 + 4 * (64 + 64), flops: 2 * 64 * 64, perLayer: 1, perStep: 0 });
    // gemv down, Q8_0: 64 rows of 128 weights = 4 blocks of 34 bytes each.
    t.match(byName(q8.kernels, 'gemv down'), { bytes: 64 * 4 * 34 + 4 * (64 + 128), flops: 2 * 64 * 128 });
    // lm_head, bf16: 256 x 64 two-byte weights, once per step.
    t.match(byName(bf16.kernels, 'gemv lm_head'), { bytes: 256 * 64 * 2 + 4 * (256 + 64), perLayer: 0, perStep: 1 });
    // Attention over 40 cached tokens: K and V of 2 heads x 16 floats each;
    // q.k and p.v for 4 query heads, 2 FLOPs a multiply-add.
    t.match(byName(f32.kernels, 'attn_decode'), { bytes: 2 * 40 * 2 * 16 * 4, flops: 4 * 40 * 4 * 16 });
    t.match(byName(f32.kernels, 'rmsnorm'), { bytes: 3 * 4 * 64, perLayer: 2, perStep: 1 });
    t.match(byName(f32.kernels, 'sample'), { bytes: 18 * 4 * 256, perStep: 1 });
    // Activations and the cache do not depend on the weight dtype.
    t.equal(byName(q8.kernels, 'attn_decode').bytes, byName(f32.kernels, 'attn_decode').bytes);
    t.end();
  });

  t.test('wrong values come back as INVALID_ARGUMENT Results, wrong types throw', async (t) => {
    const bad: [string, HipKernelTimesArgs][] = [
      ['headDim 0', shapes('f32', { headDim: 0 })],
      ['an odd headDim', shapes('f32', { headDim: 15 })],
      ['heads not a multiple of kvHeads', shapes('f32', { heads: 3 })],
      ['0 iterations', shapes('f32', { iterations: 0 })],
      ['a fractional context', shapes('f32', { context: 40.5 })],
      ['q8_0 with hidden 48 (not whole blocks)', shapes('q8_0', { hidden: 48 })],
      ['an unknown dtype', { ...shapes('f32'), dtype: 'q4_k' as NativeDType }],
    ];
    for (const [what, args] of bad) {
      const r = await hipKernelTimes(args);
      t.equal(r.ok ? 'ok' : r.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', what);
    }
    const dtypeError = await hipKernelTimes({ ...shapes('f32'), dtype: 'q4_k' as NativeDType });
    if (!dtypeError.ok) t.match(dtypeError.error.message, /dtype must be f32, f16, bf16 or q8_0/);
    t.throws(() => hipKernelTimes({ ...shapes('f32'), hidden: '64' as unknown as number }), TypeError, 'a string hidden is a TypeError');
  });

  t.test('a failed run frees what it allocated; the flush path runs', async (t) => {
    // The flush buffer is allocated last: 2 MiB does not fit, after every
    // other buffer did.
    const oom = await hipKernelTimes(shapes('f32', { flushBytes: 2 * BUDGET }));
    t.equal(oom.ok ? 'ok' : oom.error.code, 'HIPSERVE_E_OUT_OF_MEMORY', 'a failed hipMalloc comes back with its code');
    if (!oom.ok) t.match(oom.error.message, /hipMalloc: hipErrorOutOfMemory/);
    for (let i = 0; i < 3; ++i) {
      const r = await hipKernelTimes(shapes('f32', { flushBytes: 64 << 10, iterations: 1 }));
      t.ok(r.ok, `run ${i} after the failure (with a 64 KiB flush between launches) fits the device: ${r.ok ? '' : r.error.message}`);
    }
  });
}
