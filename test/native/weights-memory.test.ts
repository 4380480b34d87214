// HIPSERVE_WEIGHTS: a model's files read into (huge-page) memory or mapped
// give the same model, a broken file is the same error either way, and a
// device backend never copies.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureModel } from '../fixtures/models.js';
import { listBackends, loadModel, ops, releaseModel } from '../../src/native.js';
import { nativeGreedy } from '../peer/native-greedy.js';

const saved = process.env.HIPSERVE_WEIGHTS;
t.teardown(() => {
  if (saved === undefined) delete process.env.HIPSERVE_WEIGHTS;
  else process.env.HIPSERVE_WEIGHTS = saved;
});

async function greedyWith(mode: string, path: string): Promise<{ weights: string; tokens: number[][]; logprobs: number[][] }> {
  process.env.HIPSERVE_WEIGHTS = mode;
  const r = await loadModel(path, { device: 'cpu' });
  if (!r.ok) throw new Error(r.error.message);
  try {
    const g = await nativeGreedy(r.value.handle, [[1, 2, 3, 4, 5], [9, 8, 7]], { steps: 8 });
    return { weights: r.value.info.weights, tokens: g.seqs.map((s) => s.tokens), logprobs: g.seqs.map((s) => s.logprobs) };
  } finally {
    releaseModel(r.value.handle);
  }
}

t.test('copy and mmap load the same model', async (t) => {
  for (const [arch, format] of [['llama', 'gguf'], ['qwen3', 'safetensors']] as const) {
    const path = await fixtureModel(arch, format, { dtype: 'f16' });
    const copied = await greedyWith('copy', path);
    const mapped = await greedyWith('mmap', path);
    t.equal(copied.weights, 'memory', `${arch} ${format}: HIPSERVE_WEIGHTS=copy reads the files into memory`);
    t.equal(mapped.weights, 'mmap', `${arch} ${format}: HIPSERVE_WEIGHTS=mmap maps them`);
    t.same(copied.tokens, mapped.tokens, `${arch} ${format}: same greedy tokens`);
    t.same(copied.logprobs, mapped.logprobs, `${arch} ${format}: same logprobs, bit for bit`);
  }
  // auto: the small fixtures (< 64 MiB) stay mapped.
  const auto = await greedyWith('auto', await fixtureModel('llama', 'gguf', { dtype: 'f16' }));
  t.equal(auto.weights, 'mmap', 'auto maps files under 64 MiB');
});

for (const dtype of ['q8_0', 'f16'] as const) t.test(`${dtype}: packed matrices, copied or mapped, and at a lowered SIMD level`, async (t) => {
  const path = await fixtureModel('llama', 'gguf', { dtype });
  const o = ops() as unknown as { simdLevel(): { value: string }; setSimdLevel(l: string): { ok: boolean }; packedKernel(dt: string): { value: boolean } };
  const packs = o.packedKernel(dtype).value;
  const runs: { tokens: number[][]; logprobs: number[][] }[] = [];
  for (const mode of ['copy', 'mmap']) {
    process.env.HIPSERVE_WEIGHTS = mode;
    const r = await loadModel(path, { device: 'cpu' });
    if (!r.ok) throw new Error(r.error.message);
    t.equal(r.value.info.packedBytes > 0, packs, `${mode}: matrices packed exactly when this CPU has a packed kernel`);
    const g = await nativeGreedy(r.value.handle, [[1, 2, 3, 4, 5], [9, 8, 7]], { steps: 8 });
    runs.push({ tokens: g.seqs.map((s) => s.tokens), logprobs: g.seqs.map((s) => s.logprobs) });
    if (mode === 'copy') {
      // The row bytes of packed matrices are gone: a lower level must still
      // run the model (through the portable packed kernel).
      const level = o.simdLevel().value;
      o.setSimdLevel('scalar');
      try {
        const low = await nativeGreedy(r.value.handle, [[1, 2, 3, 4, 5], [9, 8, 7]], { steps: 8 });
        t.same(low.seqs.map((s) => s.tokens), runs[0]?.tokens, 'scalar level: the same greedy tokens');
        let worst = 0;
        low.seqs.forEach((s, i) => {
          s.logprobs.forEach((lp, k) => {
            worst = Math.max(worst, Math.abs(lp - (runs[0]?.logprobs[i]?.[k] ?? 0)));
          });
        });
        t.ok(worst < 1e-3, `scalar level: logprobs within 1e-3 (${worst.toExponential(2)})`);
      } finally {
        o.setSimdLevel(level);
      }
    }
    releaseModel(r.value.handle);
  }
  t.same(runs[1]?.tokens, runs[0]?.tokens, 'copy and mmap: same tokens');
  t.same(runs[1]?.logprobs, runs[0]?.logprobs, 'copy and mmap: same logprobs, bit for bit');
});

const backends = listBackends();
const emuMissing = !backends.ok || backends.value.find((b) => b.name === 'hip-emu')?.available !== true;

t.test('a device backend keeps its host weights mapped (it uploads them)', { skip: emuMissing ? 'no hip-emu backend in this build' : false }, async (t) => {
  process.env.HIPSERVE_WEIGHTS = 'copy';
  const r = await loadModel(await fixtureModel('llama', 'gguf', { dtype: 'f16' }), { device: 'hip-emu' });
  if (!r.ok) throw new Error(r.error.message);
  t.equal(r.value.info.weights, 'mmap', 'HIPSERVE_WEIGHTS=copy does not copy for hip-emu');
  releaseModel(r.value.handle);
});

t.test('a truncated file read into memory is the same error as mapped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hs-weights-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const good = readFileSync(await fixtureModel('llama', 'gguf', { dtype: 'f16' }));
  const file = join(dir, 'cut.gguf');
  writeFileSync(file, good.subarray(0, good.length - 4096));
  const errors: string[] = [];
  for (const mode of ['copy', 'mmap']) {
    process.env.HIPSERVE_WEIGHTS = mode;
    const r = await loadModel(file, { device: 'cpu' });
    t.equal(r.ok, false, `${mode}: loading fails`);
    if (r.ok) {
      releaseModel(r.value.handle);
      continue;
    }
    t.equal(r.error.where, file, `${mode}: names the file`);
    errors.push(`${r.error.code}: ${r.error.message}`);
  }
  t.equal(errors[0], errors[1], 'same code and message');
});
