// The HIP backends in the backend registry on a machine without an AMD GPU:
// `hip` is listed, unavailable, with the HIP runtime's own reason when the
// real library (libhipserve_hip.so) is present, or the missing library named
// when it is not; `hip-emu` is available (the emulator needs no GPU) but
// scores below the CPU; asking for it fails at load time with that reason; `auto`
// still picks a backend that works; the HIP attention kernels are listed with
// their limits.
import t from 'tap';

import { listAttentionBackends, listBackends, loadModel } from '../../src/native.js';

t.test('hip is registered and unavailable here, saying why; hip-emu is available', (t) => {
  const r = listBackends();
  if (!r.ok) throw r.error;
  const hip = r.value.find((b) => b.name === 'hip');
  const emu = r.value.find((b) => b.name === 'hip-emu');
  t.ok(hip, 'hip is listed');
  t.ok(emu, 'hip-emu is listed');
  if (hip === undefined || emu === undefined) return t.end();
  t.equal(hip.available, false);
  t.match(
    hip.reason,
    /(HIP runtime found no usable GPU: hipGetDeviceCount: hipErrorNoDevice)|(libhipserve_hip\.so was not found)/,
    'the runtime reason, or the missing library',
  );
  t.same(hip.capabilities, { dtypes: ['f32', 'f16', 'bf16', 'q8_0'], pagedKv: true, deviceMemory: true, async: true });
  t.equal(emu.available, true);
  t.equal(emu.reason, '');
  t.ok(emu.score < 0, 'hip-emu is never preferred');
  t.ok(r.value.findIndex((b) => b.name === 'hip') < r.value.findIndex((b) => b.name === 'cpu'), 'hip outranks cpu when present');
  t.end();
});

t.test('the HIP attention kernels are registered with their limits', (t) => {
  const r = listAttentionBackends();
  if (!r.ok) throw r.error;
  for (const [name, backend] of [['hip-paged', 'hip'], ['hip-emu-paged', 'hip-emu']]) {
    const a = r.value.find((x) => x.name === name);
    t.ok(a, `${name} is listed`);
    t.equal(a?.backend, backend);
    t.equal(a?.maxHeadSize, 256);
  }
  t.end();
});

t.test('--device hip fails at load time with the reason; auto does not pick hip', async (t) => {
  const r = await loadModel('/nonexistent/model.gguf', { device: 'hip' });
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.error.code, 'HIPSERVE_E_UNAVAILABLE');
    t.match(r.error.message, /backend 'hip' is not available here: /);
    t.match(r.error.message, /hipErrorNoDevice|libhipserve_hip\.so was not found/);
  }
  const auto = await loadModel('/nonexistent/model.gguf', { device: 'auto' });
  t.equal(auto.ok, false, 'no such file');
  if (!auto.ok) t.not(auto.error.code, 'HIPSERVE_E_UNAVAILABLE', 'auto found a backend; the file is what fails');
});
