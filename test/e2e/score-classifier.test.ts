// /v1/score and /v1/rerank with vLLM's "classifier from token" over the real
// engine (the Qwen3 fixture, CPU, started with --hf-overrides as vLLM
// serves Qwen3-Reranker): a pair's score is sigmoid(lp(yes) - lp(no)) after
// its prompt (text_1 + text_2), checked against the same logprobs reached
// by another path: /v1/completions' prompt scoring (echo with logprobs,
// max_tokens 0) of the prompt followed by "yes", and by "no", whose last
// echoed logprob is lp(token | prompt), computed from the forward's prompt
// rows rather than by the sampler. The route's rules are
// test/server/score-classifier.test.ts (over the fake engine).
import t from 'tap';
import { postJson, startLive } from './helpers.js';

interface Completion {
  choices: { logprobs: { tokens: string[]; token_logprobs: (number | null)[] } }[];
}

const HF_OVERRIDES = '{"architectures": ["Qwen3ForSequenceClassification"], "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true}';

t.test('a Qwen3-Reranker\'s score over the real engine equals sigmoid(lp yes - lp no) by prompt scoring', async (t) => {
  const live = await startLive({ arch: 'qwen3', config: { hfOverrides: HF_OVERRIDES } });
  t.teardown(() => live.close());
  const tok = live.engine.tokenizer;
  const [no, yes] = [tok.encode('no', false), tok.encode('yes', false)];
  t.same([no.length, yes.length], [1, 1], '"no" and "yes" are single tokens of the fixture\'s vocabulary');

  const query = '<|im_start|>user\n<Query>: Where do foxes live?\n';
  const docs = ['<Document>: Foxes live in dens<|im_end|>\n<|im_start|>assistant\n', '<Document>: A quick brown fox', '<Document>: Hello there'];
  /** lp(token | prompt): the last echoed logprob of prompt + [token], prompt logprobs' path. */
  const lpAfter = async (prompt: number[], token: number): Promise<number> => {
    const r = await postJson(live.url, '/v1/completions', { model: live.model, prompt: [...prompt, token], max_tokens: 0, echo: true, logprobs: 0 });
    t.equal(r.status, 200, JSON.stringify(r.body).slice(0, 200));
    const lps = (r.body as Completion).choices[0].logprobs.token_logprobs;
    t.equal(lps.length, prompt.length + 1, 'the prompt echoed, nothing generated');
    const last = lps.at(-1);
    if (typeof last !== 'number') throw new Error('no logprob for the last prompt token');
    return last;
  };
  const expected: number[] = [];
  for (const d of docs) {
    const prompt = tok.encode(query + d, true);
    const [lpNo, lpYes] = [await lpAfter(prompt, no[0]), await lpAfter(prompt, yes[0])];
    expected.push(1 / (1 + Math.exp(lpNo - lpYes)));
  }

  const score = await postJson(live.url, '/v1/score', { model: live.model, text_1: query, text_2: docs });
  t.equal(score.status, 200, JSON.stringify(score.body).slice(0, 200));
  const body = score.body as { data: { score: number }[]; usage: { prompt_tokens: number } };
  const scores = body.data.map((d) => d.score);
  const diff = Math.max(...scores.map((s, i) => Math.abs(s - expected[i])));
  t.ok(diff < 1e-4, `/v1/score equals sigmoid(lp yes - lp no) from prompt scoring (max difference ${diff}; scores ${scores.map((s) => s.toFixed(6)).join(', ')})`);
  t.ok(scores.every((s) => s > 0 && s < 1), 'probabilities');
  t.equal(body.usage.prompt_tokens, docs.reduce((a, d) => a + tok.encode(query + d, true).length, 0), 'usage: each pair\'s prompt once');

  const rerank = await postJson(live.url, '/v1/rerank', { model: live.model, query, documents: docs });
  t.equal(rerank.status, 200);
  const results = (rerank.body as { results: { index: number; relevance_score: number }[] }).results;
  t.same(results.map((r) => r.index), docs.map((_, i) => i).sort((a, b) => scores[b] - scores[a]), '/v1/rerank orders the documents by that score');
  t.ok(Math.max(...results.map((r) => Math.abs(r.relevance_score - scores[r.index]))) < 1e-6, 'the same scores');

  const emb = await postJson(live.url, '/v1/embeddings', { model: live.model, input: query });
  t.equal((emb.body as { data: { embedding: number[] }[] }).data[0].embedding.length, live.engine.model.hiddenSize, '/v1/embeddings still embeds');
  t.equal(live.engine.stats().numRunning + live.engine.stats().numWaiting, 0, 'nothing left running');
});
