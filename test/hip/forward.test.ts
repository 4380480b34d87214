// The model forward on the HIP emulator (`device: 'hip-emu'`: the device
// forward of native/hip/ over kernels/*.hip) against the CPU backend, the
// reference: the same greedy tokens (3 prompts x 16 steps in f32, fewer in
// the dtypes that are slow on the emulator) and logprobs within LOGPROB_TOL; a batch mixing prefill chunks and decodes of
// several sequences gives each its tokens alone; a seeded sampled sequence
// draws the CPU's tokens; at wavefront 64 and 32.
import t from 'tap';
import { fixtureModel, type Arch, type FixtureFormat } from '../fixtures/models.js';
import { createKvCache, loadModel, releaseKvCache, releaseModel } from '../../src/native.js';
import type { KvCacheHandle, ModelHandle } from '../../src/native.js';
import type { WeightDType } from '../../src/models/writers/encode.js';
import { generateAlone, newSeq, promptIds } from '../native/step-helpers.js';
import type { Sampled } from '../native/step-helpers.js';
import { compareGreedy as compare } from './compare.js';
import { hipEmu, missingReason } from './emu.js';

const BS = 16;
const STEPS = 16;
/**
 * |logprob(hip-emu) - logprob(cpu)| bound, in nats, for f32/f16/bf16: both
 * keep activations in f32 and sum in different orders, so they agree to
 * float rounding (~1e-5 measured), not bitwise.
 */
const LOGPROB_TOL = 1e-3;

interface Opened {
  model: ModelHandle;
  kv: KvCacheHandle;
}

async function open(path: string, device: string): Promise<Opened> {
  // kvCacheDtype f32: the HIP kernels read an f32 cache, so the CPU side compared with them keeps one too.
  const r = await loadModel(path, { device, maxBatchedTokens: 64, kvCacheDtype: 'f32' });
  if (!r.ok) throw new Error(`${device}: ${r.error.message}`);
  const kv = createKvCache(r.value.handle, { numBlocks: 64, blockSize: BS });
  if (!kv.ok) throw new Error(`${device}: ${kv.error.message}`);
  return { model: r.value.handle, kv: kv.value.handle };
}

function close(o: Opened): void {
  releaseKvCache(o.kv);
  releaseModel(o.model);
}

// Each prompt gets its own run of blocks so several can share one pool.
const PROMPTS = [promptIds(7, 11), promptIds(23, 12), promptIds(40, 13)];
const blocksFor = (i: number): number[] => Array.from({ length: 5 }, (_, k) => 1 + i * 5 + k);

async function greedyAll(o: Opened, prompts: number, steps = STEPS, chunk = Infinity): Promise<Sampled[][]> {
  const out: Sampled[][] = [];
  for (const [i, p] of PROMPTS.slice(0, prompts).entries()) {
    out.push(await generateAlone(o.model, o.kv, newSeq(blocksFor(i), { numLogprobs: 2 }), p, steps, BS, chunk));
  }
  return out;
}

/**
 * Each case: prompts and steps. f32 runs 3 prompts x 16 steps; the 16-bit
 * and Q8_0 matmuls take the tiled kernel, whose 128k-row lm_head costs over
 * a second per step on the emulator, so those run one prompt x 8 steps (the
 * dtype only changes which matmul path runs, not the step logic).
 */
const CASES: [Arch, FixtureFormat, WeightDType, number, number][] = [
  ['llama', 'safetensors', 'f32', 3, STEPS],
  ['qwen2', 'safetensors', 'bf16', 1, 8],
  ['qwen3', 'gguf', 'f16', 1, 8],
];
/**
 * Q8_0: the CPU quantizes activations to 8 bits per 32-block (llama.cpp's
 * scheme), the HIP kernels keep them in f32 and dequantize the weights, so
 * the two differ by the CPU's activation rounding: up to ~0.2 nats here.
 */
const Q8_TOL = 0.3;

t.test('hip-emu is an available backend that --device auto never picks; device memory is reported and freed', { skip: hipEmu ? false : missingReason }, async (t) => {
  const { listBackends } = await import('../../src/native.js');
  const r = listBackends();
  if (!r.ok) throw r.error;
  const emu = r.value.find((b) => b.name === 'hip-emu');
  t.equal(emu?.available, true);
  t.equal(emu?.score, -1);
  const path = await fixtureModel('llama', 'safetensors');
  const auto = await loadModel(path, { device: 'auto' });
  if (!auto.ok) throw auto.error;
  t.not(auto.value.info.backend, 'hip-emu');
  t.equal(auto.value.info.deviceMemory, undefined, 'a CPU model has no device memory');
  const f16dev = await loadModel(path, { device: 'hip-emu', kvCacheDtype: 'f16' });
  t.equal(f16dev.ok ? 'ok' : f16dev.error.code, 'HIPSERVE_E_UNSUPPORTED', 'an f16 KV cache is CPU only');
  releaseModel(auto.value.handle);
  const inUse = (): number => {
    const r = hipEmu?.deviceInfo();
    if (r?.ok !== true) throw new Error(missingReason);
    return r.value.bytesInUse;
  };
  const before = inUse();
  const dev = await loadModel(path, { device: 'hip-emu' });
  if (!dev.ok) throw dev.error;
  const mem = dev.value.info.deviceMemory;
  t.equal(dev.value.info.backend, 'hip-emu');
  t.equal(dev.value.info.kvCacheDtype, 'f32', 'a device keeps an f32 KV cache');
  t.ok(mem !== undefined && mem.weightBytes > 0 && mem.totalBytes > 0, 'device memory is reported');
  t.ok(mem !== undefined && mem.freeBytes <= mem.totalBytes - mem.weightBytes, 'the weights are counted as used');
  const kv = createKvCache(dev.value.handle, { numBlocks: 16, blockSize: BS });
  if (!kv.ok) throw kv.error;
  t.ok(inUse() - before >= (mem?.weightBytes ?? Infinity) + kv.value.bytes, 'weights and the KV pool are device allocations');
  releaseModel(dev.value.handle);
  releaseKvCache(kv.value.handle);
  t.equal(inUse(), before, 'releasing the model and its KV pool frees every device byte');
});

for (const [arch, format, dtype, prompts, steps] of CASES) {
  t.test(`${arch} ${format} ${dtype}: hip-emu greedy equals cpu`, async (t) => {
    const path = await fixtureModel(arch, format, { dtype });
    const cpu = await open(path, 'cpu');
    const emu = await open(path, 'hip-emu');
    try {
      const ref = await greedyAll(cpu, prompts, steps);
      compare(t, await greedyAll(emu, prompts, steps), ref, `${arch} ${dtype}`, LOGPROB_TOL);
    } finally {
      close(cpu);
      close(emu);
    }
  });
}

t.test('llama gguf q8_0: hip-emu equals cpu up to the CPU\'s 8-bit activations', async (t) => {
  const path = await fixtureModel('llama', 'gguf', { dtype: 'q8_0' });
  const cpu = await open(path, 'cpu');
  const emu = await open(path, 'hip-emu');
  try {
    const ref = await greedyAll(cpu, 1, 8);
    compare(t, await greedyAll(emu, 1, 8), ref, 'llama q8_0', Q8_TOL, 2 * Q8_TOL);
  } finally {
    close(cpu);
    close(emu);
  }
});

t.test('wavefront 32: greedy equals cpu, prompt prefilled in chunks', { skip: hipEmu ? false : missingReason }, async (t) => {
  if (!hipEmu) throw new Error(missingReason);
  const path = await fixtureModel('qwen3', 'safetensors');
  const cpu = await open(path, 'cpu');
  const emu = await open(path, 'hip-emu');
  try {
    const ref = await greedyAll(cpu, 3);
    // Not atWave: that restores 64 as soon as its callback returns, and the
    // forward runs after that, on the worker thread.
    const set = hipEmu.setWaveSize(32);
    t.ok(set.ok, 'wavefront 32 set');
    let got: Sampled[][];
    try {
      got = await greedyAll(emu, 3, STEPS, 5);
    } finally {
      hipEmu.setWaveSize(64);
    }
    compare(t, got, ref, 'qwen3 f32 wave 32', LOGPROB_TOL);
  } finally {
    close(cpu);
    close(emu);
  }
});
