// forwardProgress(model): the counter /health reads to tell a long step from
// a wedged one. It moves once per layer of a CPU forward (both entries, each
// step of a multi-step call), once per step on a device (hip-emu), and not
// at all between forwards; a released handle is an error Result.
import t from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import { createKvCache, forward, forwardProgress, forwardSync, loadModel, releaseKvCache, releaseModel } from '../../src/native.js';
import type { ModelHandle } from '../../src/native.js';
import { buildStep, newSeq, promptIds } from './step-helpers.js';

const BS = 16;

function progress(model: ModelHandle): number {
  const r = forwardProgress(model);
  if (!r.ok) throw r.error;
  return r.value;
}

for (const device of ['cpu', 'hip-emu'] as const) {
  t.test(`${device}: the counter moves with each forward and only then`, async (t) => {
    const r = await loadModel(await fixtureModel('llama', 'gguf'), { device });
    if (!r.ok) throw r.error;
    const model = r.value.handle;
    const kv = createKvCache(model, { numBlocks: 16, blockSize: BS });
    if (!kv.ok) throw kv.error;
    t.teardown(() => {
      releaseKvCache(kv.value.handle);
      releaseModel(model);
    });
    const perStep = device === 'cpu' ? r.value.info.numLayers : 1;
    const p0 = progress(model);
    t.equal(progress(model), p0, 'no forward, no move');
    const seq = newSeq([0, 1]);
    const prefill = buildStep([{ seq, tokens: promptIds(9, 5), doSample: true }], BS);
    const a = forwardSync(model, kv.value.handle, prefill);
    if (!a.ok) throw a.error;
    t.equal(progress(model) - p0, perStep, `forwardSync: ${String(perStep)} (${device === 'cpu' ? 'one per layer' : 'one per device step'})`);
    seq.len = 9;
    seq.generated.push(a.value.sampled[0]);
    const p1 = progress(model);
    const decode = { ...buildStep([{ seq, tokens: [a.value.sampled[0]], doSample: true }], BS), numSteps: 3 };
    const b = await forward(model, kv.value.handle, decode);
    if (!b.ok) throw b.error;
    t.equal(b.value.steps, 3, 'three steps ran');
    t.equal(progress(model) - p1, 3 * perStep, 'forward with numSteps 3: three steps of it');
    t.equal(progress(model), p1 + 3 * perStep, 'and it stays there');
  });
}

t.test('a released handle is an error Result', async (t) => {
  const r = await loadModel(await fixtureModel('llama', 'gguf'));
  if (!r.ok) throw r.error;
  releaseModel(r.value.handle);
  const p = forwardProgress(r.value.handle);
  t.equal(p.ok, false);
  if (!p.ok) {
    t.equal(p.error.code, 'HIPSERVE_E_INVALID_ARGUMENT');
    t.match(p.error.message, /released/);
  }
});
