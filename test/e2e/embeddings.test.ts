// /v1/embeddings and llama.cpp's /embedding over the real engine (the
// Qwen3 fixture, CPU): vectors of the model's width and unit norm, the same
// whether an input comes alone or in a batch, llama.cpp's route and the
// openai client's base64 default giving the same floats, and /v1/score and
// /v1/rerank scoring with the cosine of those vectors. The routes' rules
// themselves are test/server/embeddings.test.ts and score.test.ts (over
// the fake engine).
import t from 'tap';
import { postJson, startLive } from './helpers.js';

interface Answer {
  data: { index: number; embedding: number[] }[];
  usage: { prompt_tokens: number; total_tokens: number };
}

t.test('embeddings over the real engine', async (t) => {
  const live = await startLive({ arch: 'qwen3' });
  t.teardown(() => live.close());
  const texts = ['Hello there', 'A quick brown fox'];
  const batch = await postJson(live.url, '/v1/embeddings', { model: live.model, input: texts });
  t.equal(batch.status, 200, JSON.stringify(batch.body).slice(0, 200));
  const { data, usage } = batch.body as Answer;
  const tokens = texts.reduce((a, s) => a + live.engine.tokenizer.encode(s, true).length, 0);
  t.same(usage, { prompt_tokens: tokens, total_tokens: tokens });
  for (const d of data) {
    t.equal(d.embedding.length, live.engine.model.hiddenSize, 'the model\'s width');
    t.ok(Math.abs(Math.hypot(...d.embedding) - 1) < 1e-5, 'unit norm');
  }
  t.notSame(data[0].embedding, data[1].embedding, 'two texts, two vectors');
  for (const [i, text] of texts.entries()) {
    const alone = (await postJson(live.url, '/v1/embeddings', { input: text })).body as Answer;
    const diff = Math.max(...alone.data[0].embedding.map((x, k) => Math.abs(x - data[i].embedding[k])));
    t.ok(diff < 1e-5, `input ${i} alone equals it in the batch (${diff})`);
  }
  const llama = (await postJson(live.url, '/embedding', { content: texts[1] })).body as { embedding: number[][] }[];
  const diff = Math.max(...llama[0].embedding[0].map((x, k) => Math.abs(x - data[1].embedding[k])));
  t.ok(diff < 1e-5, `llama.cpp's /embedding (euclidean) equals it (${diff})`);
  const viaClient = await live.client.embeddings.create({ model: live.model, input: texts });
  t.same(viaClient.data.map((d) => [...d.embedding]), data.map((d) => d.embedding), 'the openai client\'s base64 default decodes to the same floats');

  // vLLM's score and rerank for an embedding model: the cosine of the two texts' embeddings.
  const query = 'Where do foxes live?';
  const docs = [...texts, 'Foxes live in dens'];
  const unit = ((await postJson(live.url, '/v1/embeddings', { input: [query, ...docs] })).body as Answer).data.map((d) => d.embedding);
  const cos = unit.slice(1).map((d) => d.reduce((a, x, k) => a + x * unit[0][k], 0));
  const score = await postJson(live.url, '/v1/score', { model: live.model, text_1: query, text_2: docs });
  t.equal(score.status, 200, JSON.stringify(score.body).slice(0, 200));
  const scores = (score.body as { data: { score: number }[] }).data.map((d) => d.score);
  const scoreDiff = Math.max(...scores.map((s, i) => Math.abs(s - cos[i])));
  t.ok(scoreDiff < 1e-5, `/v1/score equals the cosine of /v1/embeddings' vectors (${scoreDiff})`);
  const rerank = (await postJson(live.url, '/v1/rerank', { model: live.model, query, documents: docs })).body as { results: { index: number; relevance_score: number }[] };
  t.same(rerank.results.map((r) => r.index), docs.map((_, i) => i).sort((a, b) => scores[b] - scores[a]), '/v1/rerank orders the documents by that score');
  t.equal(live.engine.stats().numRunning + live.engine.stats().numWaiting, 0, 'nothing left running');
});
