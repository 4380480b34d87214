// The `--device hip` path without a GPU: libhipserve_hip_emu.so is
// libhipserve_hip.so's C ABI (native/hip/backend_api.cc and the device
// forward) built against the emulator (cmake/hip.cmake). Pointed at it with
// HIPSERVE_HIP_LIB, the addon dlopens it exactly as it would the ROCm build
// on a GPU machine: `hip` becomes available, a model loads and runs through
// the C ABI with the CPU's greedy tokens, a KV pool may outlive its model,
// and a device failure comes back through the ABI with its code.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import { addonCandidates, createKvCache, listBackends, loadModel, releaseKvCache, releaseModel } from '../../src/native.js';
import type { KvCacheHandle, ModelHandle } from '../../src/native.js';
import { ownKv, ownModel } from '../helpers/native-handles.js';
import { generateAlone, newSeq, promptIds } from '../native/step-helpers.js';

const addon = addonCandidates().find((p) => existsSync(p));
const lib = addon === undefined ? undefined : join(dirname(addon), 'libhipserve_hip_emu.so');
// Built with the addon on every machine (cmake/hip.cmake: HIPSERVE_HIP_EMU_LIB
// is ON by default, and `npm ci` passes no -D flags): missing is a broken
// build, a failure, as in emulator.test.ts, not a skip.
const missing = lib !== undefined && existsSync(lib) ? null : `libhipserve_hip_emu.so was not built next to the addon (${String(lib)}; HIPSERVE_HIP_EMU_LIB=OFF?)`;
// Before the addon loads: the hip backend probes its library once, at load.
if (lib !== undefined) process.env.HIPSERVE_HIP_LIB = lib;

const BS = 16;

/** A model and its KV pool, both released when `t` ends. */
async function open(t: Test, path: string, device: string): Promise<{ model: ModelHandle; kv: KvCacheHandle }> {
  // kvCacheDtype f32: the HIP kernels read an f32 cache, so the CPU side compared with them keeps one too.
  const r = await loadModel(path, { device, maxBatchedTokens: 64, kvCacheDtype: 'f32' });
  if (!r.ok) throw new Error(`${device}: ${r.error.message}`);
  const model = ownModel(t, r.value.handle);
  t.equal(r.value.info.backend, device, `the model runs on ${device}`);
  const kv = createKvCache(model, { numBlocks: 32, blockSize: BS });
  if (!kv.ok) throw new Error(`${device}: ${kv.error.message}`);
  return { model, kv: ownKv(t, kv.value.handle) };
}

if (missing !== null) {
  t.fail(missing);
} else {
  t.test('hip through the C ABI of an emulated libhipserve_hip.so', async (t) => {
    const backends = listBackends();
    if (!backends.ok) throw backends.error;
    const hip = backends.value.find((b) => b.name === 'hip');
    t.equal(hip?.available, true, `hip is available through ${String(lib)}: ${String(hip?.reason)}`);

    const path = await fixtureModel('llama', 'safetensors');
    const cpu = await open(t, path, 'cpu');
    const dev = await open(t, path, 'hip');
    for (const [i, prompt] of [promptIds(9, 31), promptIds(20, 32)].entries()) {
      const seq = (): ReturnType<typeof newSeq> => newSeq([1 + 4 * i, 2 + 4 * i, 3 + 4 * i], { numLogprobs: 1 });
      const ref = await generateAlone(cpu.model, cpu.kv, seq(), prompt, 16, BS);
      const got = await generateAlone(dev.model, dev.kv, seq(), prompt, 16, BS);
      t.same(got.map((s) => s.token), ref.map((s) => s.token), `prompt ${i}: 16 greedy tokens equal the CPU's`);
      const worst = Math.max(...got.map((s, k) => Math.abs(s.logprob - (ref.at(k)?.logprob ?? NaN))));
      t.ok(worst < 1e-3, `prompt ${i}: logprobs within 1e-3 (worst ${worst.toExponential(2)})`);
    }

    const huge = createKvCache(dev.model, { numBlocks: 1_000_000, blockSize: BS });
    if (huge.ok) ownKv(t, huge.value.handle);
    t.equal(huge.ok ? 'ok' : huge.error.code, 'HIPSERVE_E_OUT_OF_MEMORY', 'a failed hipMalloc comes back through the ABI with its code');
    if (!huge.ok) t.match(huge.error.message, /hipMalloc: hipErrorOutOfMemory/);

    // The KV pool may outlive its model (the engine releases in either order).
    t.same(releaseModel(dev.model), { ok: true, value: true });
    t.same(releaseKvCache(dev.kv), { ok: true, value: true });
  });
}
