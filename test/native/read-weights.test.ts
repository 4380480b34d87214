// readWeights (native/src/bindings/forward.cc): the roofline's read of a
// model's own matrices, which bench/decode.ts takes between decode calls.
// It reads exactly the bytes a decode step streams (the layers' seven
// matrices and lm_head), every byte once per pass whatever the pattern; its
// arguments are checked as the bindings check theirs; it shares the
// model's one-forward-at-a-time flag. Nothing here is about speed.
import t from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import { readGguf } from '../../src/models/gguf-reader.js';
import { createKvCache, forward, loadModel, readWeights, releaseKvCache, releaseModel, type ModelHandle, type ReadPattern } from '../../src/native.js';
import { buildStep, newSeq, promptIds } from './step-helpers.js';
import { nativeGreedy } from '../peer/native-greedy.js';

const PATTERNS: ReadPattern[] = ['stream', 'stream-prefetch', 'chunks', 'chunks-prefetch', 'tasks'];
const MATRICES = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

t.test('readWeights reads the bytes of a decode step\'s matrices, each once per pass, in every pattern', async (t) => {
  const path = await fixtureModel('llama', 'gguf');
  const tensors = readGguf(path).tensors;
  const size = (name: string): number => tensors.find((x) => x.name === name)?.size ?? 0;
  // lm_head is output.weight, or token_embd.weight when the embeddings are tied.
  const expected =
    tensors.filter((x) => MATRICES.test(x.name)).reduce((a, x) => a + (x.size ?? 0), 0) + (size('output.weight') || size('token_embd.weight'));
  const r = await loadModel(path);
  if (!r.ok) throw r.error;
  const model = r.value.handle;
  const sums = new Set<number>();
  for (const pattern of PATTERNS) {
    const one = readWeights(model, { passes: 1, pattern });
    if (!one.ok) throw one.error;
    t.equal(one.value.bytes, expected, `${pattern}: one pass is the step's matrices (${String(expected)} bytes)`);
    t.ok(Number.isFinite(one.value.seconds) && one.value.seconds >= 0, `${pattern}: seconds is a duration`);
    t.ok(Number.isFinite(one.value.gbPerSecond) && one.value.gbPerSecond >= 0, `${pattern}: GB/s is finite`);
    sums.add(one.value.checksum);
    const two = readWeights(model, { passes: 2, pattern });
    if (!two.ok) throw two.error;
    t.equal(two.value.checksum, (2 * one.value.checksum) & 0xffff, `${pattern}: two passes read the same bytes twice`);
  }
  t.equal(sums.size, 1, 'every pattern sums the same bytes');
  const dflt = readWeights(model, { passes: 1 });
  t.equal(dflt.ok && dflt.value.checksum, [...sums][0], 'the default pattern reads them too');
  releaseModel(model);
});

t.test('readWeights: bad arguments, a busy model and a released handle', async (t) => {
  const r = await loadModel(await fixtureModel('llama', 'gguf'));
  if (!r.ok) throw r.error;
  const model = r.value.handle;
  const bad = readWeights(model, { passes: 1, pattern: 'sideways' as ReadPattern });
  t.equal(bad.ok ? 'ok' : bad.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', 'an unknown pattern');
  t.match(bad.ok ? '' : bad.error.message, /pattern must be 'stream'/, 'names the patterns');
  t.throws(() => readWeights(model, { passes: 0 }), RangeError, 'passes 0');
  t.throws(() => readWeights(model, { passes: 100001 }), RangeError, 'passes past 100000');
  t.throws(() => readWeights(model, { passes: '2' as unknown as number }), TypeError, 'passes a string');
  t.throws(() => readWeights(model, undefined as unknown as { passes: number }), TypeError, 'no options');
  t.throws(() => readWeights({} as ModelHandle, { passes: 1 }), TypeError, 'not a model handle');

  const kv = createKvCache(model, { numBlocks: 8, blockSize: 16 });
  if (!kv.ok) throw kv.error;
  const inFlight = forward(model, kv.value.handle, buildStep([{ seq: newSeq([1, 2]), tokens: promptIds(5, 3), doSample: true }], 16));
  const during = readWeights(model, { passes: 1 });
  t.equal(during.ok ? 'ok' : during.error.code, 'HIPSERVE_E_BUSY', 'busy while a forward runs');
  t.equal((await inFlight).ok, true, 'the forward completes');
  t.equal(readWeights(model, { passes: 1 }).ok, true, 'and the read runs after it');
  releaseKvCache(kv.value.handle);

  releaseModel(model);
  const gone = readWeights(model, { passes: 1 });
  t.match(gone.ok ? '' : gone.error.message, /model handle was released/, 'a released model is refused');
});

t.test('nativeGreedy reports each decode call to afterCall, which bench/decode.ts reads the weights in', async (t) => {
  const r = await loadModel(await fixtureModel('llama', 'gguf'));
  if (!r.ok) throw r.error;
  const model = r.value.handle;
  const calls: { steps: number; ms: number; index: number }[] = [];
  const g = await nativeGreedy(model, [promptIds(6, 2)], {
    steps: 12,
    stepsPerCall: 3,
    afterCall: (steps, ms, index) => {
      calls.push({ steps, ms, index });
      const read = readWeights(model, { passes: steps });
      t.ok(read.ok, `call ${String(index)}: the model is free for a read between calls`);
    },
  });
  t.equal(calls.length, g.decodeCalls, 'one report per decode call');
  t.equal(calls.reduce((a, c) => a + c.steps, 0), g.decodeSteps, 'their steps add up to the decode steps');
  t.same(calls.map((c) => c.index), calls.map((_, i) => i), 'indexed in order from 0');
  t.ok(calls.every((c) => Number.isFinite(c.ms) && c.ms >= 0), 'each with a duration');
  releaseModel(model);
});
