// Embeddings against llama.cpp (node-llama-cpp's embedding context on the
// same GGUF file): for a model without a pooling type llama.cpp returns the
// final-normed hidden state of the input's last token, which is hipserve's
// 'last' pooling, here taken through the engine as /v1/embeddings runs it.
// llama.cpp's embedding context keeps an f16 KV cache (so does hipserve's
// engine by default); the measured worst difference was 2.4e-3 on values up
// to 3.4, a cosine of 1 - 1e-7.
import t from 'tap';
import { assembleEngine } from '../../src/engine/index.js';
import { loadTokenizer } from '../../src/models/tokenizer.js';
import * as native from '../../src/native.js';
import { fixtureModel, type Arch } from '../fixtures/models.js';
import { promptIds } from '../native/step-helpers.js';
import { getPeer } from './llama-peer.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function ours(path: string, prompts: number[][]): Promise<Float32Array[]> {
  const r = await native.loadModel(path, { device: 'cpu' });
  if (!r.ok) throw r.error;
  const engine = assembleEngine({
    loaded: r.value, tokenizer: await loadTokenizer(path), numBlocks: 64, blockSize: 16, maxModelLen: 256, maxNumSeqs: 8,
    maxNumBatchedTokens: 64, enablePrefixCaching: true, maxNumQueuedRequests: 100, seed: 0, name: 'fixture', isDemo: false, logger: quiet,
  });
  try {
    return await Promise.all(prompts.map(async (prompt) => {
      for await (const o of engine.generate({ prompt, embed: { pooling: 'last' } })) if (o.embedding) return o.embedding;
      throw new Error('no embedding');
    }));
  } finally {
    await engine.close();
  }
}

for (const arch of ['llama', 'qwen3'] as Arch[]) {
  t.test(`${arch} f32 GGUF: 'last' embeddings match llama.cpp's`, async (t) => {
    const path = await fixtureModel(arch, 'gguf');
    const model = await (await getPeer()).loadModel({ modelPath: path });
    t.teardown(() => model.dispose());
    const ctx = await model.createEmbeddingContext({ contextSize: 256, threads: 1 });
    t.teardown(() => ctx.dispose());
    // Given as ids with the BOS llama.cpp would prepend, so both see the same tokens.
    const bos = model.tokens.shouldPrependBosToken && model.tokens.bos !== null ? [model.tokens.bos] : [];
    t.notOk(model.tokens.shouldAppendEosToken, 'llama.cpp appends nothing');
    const prompts = [promptIds(20, 3), promptIds(1, 8), promptIds(90, 5)].map((p) => [...bos, ...p]);
    const mine = await ours(path, prompts);
    for (const [i, prompt] of prompts.entries()) {
      const theirs = (await ctx.getEmbeddingFor(prompt)).vector;
      const v = mine[i];
      t.equal(v.length, theirs.length, `prompt ${i}: the same width`);
      let diff = 0;
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let d = 0; d < v.length; d++) {
        diff = Math.max(diff, Math.abs(v[d] - theirs[d]));
        dot += v[d] * theirs[d];
        na += v[d] * v[d];
        nb += theirs[d] * theirs[d];
      }
      const cos = dot / Math.sqrt(na * nb);
      t.ok(diff < 1e-2 && cos > 1 - 1e-5, `prompt ${i} (${prompt.length} tokens): worst ${diff.toExponential(2)}, cosine 1 - ${(1 - cos).toExponential(1)}`);
    }
  });
}
