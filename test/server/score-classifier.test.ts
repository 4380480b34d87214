// /score and /rerank with vLLM's "classifier from token" (--hf-overrides, a
// Qwen3-Reranker) over the fake engine, whose logprob of an allowed token
// is fakeLogprob(prompt, id): a pair's score is sigmoid(lp(yes) - lp(no))
// after its prompt, text_1 + text_2 tokenized together; two one-token
// engine requests a pair (allowed only "no", only "yes"), each distinct
// prompt once; usage; truncation and the context bound on the joined
// prompt; the queue bound counted in engine requests; a client that leaves,
// the timeout; /v1/embeddings unchanged; and bad flags failing start-up.

import { request, type ClientRequest } from 'node:http';
import t, { type Test } from 'tap';
import { twoWayScore } from '../../src/server/classifier.js';
import { fakeEmbedding, fakeLogprob } from '../helpers/fake-engine.js';
import { startServer, waitFor, type Harness } from '../helpers/server-harness.js';

interface Answer {
  error?: { message: string; param: string | null; code: string };
  data: { index: number; score: number; embedding?: number[] }[];
  usage: { prompt_tokens: number; total_tokens: number; completion_tokens?: number };
  results: { index: number; document: { text: string }; relevance_score: number }[];
}

async function post(h: Harness, path: string, body: unknown): Promise<{ status: number; body: Answer }> {
  const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Answer };
}

const HF_OVERRIDES = '{"architectures": ["Qwen3ForSequenceClassification"], "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true}';
const MAX_MODEL_LEN = 128;

let h: Harness;
t.before(async () => {
  h = await startServer({ engine: { maxModelLen: MAX_MODEL_LEN }, config: { hfOverrides: HF_OVERRIDES } });
});
t.teardown(() => h.close());

const ids = (text: string): number[] => h.engine.tokenizer.encode(text, true);
const NO = 2152;
const YES = 9693;

/** The score the fake model gives a pair: its two tokens' logprobs after text_1 + text_2. */
const want = (a: string, b: string): number => twoWayScore(fakeLogprob(ids(a + b), NO), fakeLogprob(ids(a + b), YES));

function close(t: Test, got: readonly number[], expected: readonly number[], what: string): void {
  const diff = got.length === expected.length ? Math.max(0, ...got.map((g, i) => Math.abs(g - expected[i]))) : Infinity;
  t.ok(diff < 1e-12, `${what}: ${got.length} scores, max difference ${diff}`);
}

t.test('the ids the server resolved: Qwen3\'s "no" and "yes"', (t) => {
  t.same(h.ctx.classifier, { method: 'from_2_way_softmax', tokens: ['no', 'yes'], ids: [NO, YES] });
  t.same([ids('no'), ids('yes')], [[NO], [YES]]);
  t.end();
});

t.test('/score: sigmoid(lp yes - lp no) after text_1 + text_2, two one-token requests a pair', async (t) => {
  const cases: { body: object; pairs: [string, string][] }[] = [
    { body: { text_1: 'What is the capital of France?', text_2: ' Paris is the capital of France.' }, pairs: [['What is the capital of France?', ' Paris is the capital of France.']] },
    { body: { text_1: 'the lazy dog', text_2: ['a red fox', 'green hills', 'x'] }, pairs: [['the lazy dog', 'a red fox'], ['the lazy dog', 'green hills'], ['the lazy dog', 'x']] },
    { body: { queries: ['x', 'green hills'], documents: ['a red fox', 'the lazy dog'] }, pairs: [['x', 'a red fox'], ['green hills', 'the lazy dog']] },
  ];
  for (const [k, c] of cases.entries()) {
    const path = k % 2 === 0 ? '/score' : '/v1/score';
    const what = `${path} ${JSON.stringify(c.body).slice(0, 60)}`;
    const started = h.engine.started.length;
    const r = await post(h, path, c.body);
    t.equal(r.status, 200, what);
    t.same(r.body.data.map((d) => d.index), c.pairs.map((_, i) => i));
    close(t, r.body.data.map((d) => d.score), c.pairs.map(([a, b]) => want(a, b)), what);
    t.ok(r.body.data.every((d) => d.score > 0 && d.score < 1), 'probabilities');
    const prompts = c.pairs.map(([a, b]) => ids(a + b));
    const tokens = prompts.reduce((a, p) => a + p.length, 0);
    t.same(r.body.usage, { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 }, `${what}: usage counts each pair's prompt once`);
    t.equal(h.engine.started.length, started + 2 * c.pairs.length, 'two engine requests a pair');
    t.match(h.engine.started.slice(started), c.pairs.flatMap((_, i) => [new RegExp(`^score-[0-9a-f]{32}-${2 * i}$`), new RegExp(`^score-[0-9a-f]{32}-${2 * i + 1}$`)]));
    t.same(h.engine.startedPrompts.slice(started), prompts.flatMap((p) => [p, p]), 'each the pair\'s texts joined, then tokenized');
    t.same(h.engine.startedEmbeds.slice(started), prompts.flatMap(() => [null, null]), 'generations, not embeddings');
    const params = h.engine.startedParams.slice(started);
    t.same(params.map((p) => p.allowedTokenIds), prompts.flatMap(() => [[NO], [YES]]), 'allowed only "no", then only "yes"');
    t.ok(params.every((p) => p.maxTokens === 1 && p.temperature === 0 && p.logprobs === 0 && p.n === 1), 'one greedy token with its logprob');
  }
});

t.test('/rerank, /v1/rerank, /v2/rerank: documents by that score; a Qwen3-Reranker\'s own formatting', async (t) => {
  // The client writes the instruct prefix and suffix (vLLM's example does so); the server joins the texts as they are.
  const query = '<|im_start|>system\nJudge whether the Document meets the requirements. Answer "yes" or "no".<|im_end|>\n<|im_start|>user\n<Query>: where do foxes live?\n';
  const suffix = '<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n';
  const documents = ['Foxes live in dens', 'green hills', 'seven small birds sing', 'x'].map((d) => `<Document>: ${d}${suffix}`);
  const scores = documents.map((d) => want(query, d));
  const order = documents.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  for (const path of ['/rerank', '/v1/rerank', '/v2/rerank']) {
    const r = await post(h, path, { query, documents });
    t.equal(r.status, 200, `${path}: ${r.body.error?.message}`);
    t.same(r.body.results.map((x) => x.index), order, `${path}: by relevance_score`);
    close(t, r.body.results.map((x) => x.relevance_score), order.map((i) => scores[i]), path);
    const tokens = documents.reduce((a, d) => a + ids(query + d).length, 0);
    t.same(r.body.usage, { prompt_tokens: tokens, total_tokens: tokens });
  }
  t.ok(ids(query + documents[0]).includes(ids('<|im_end|>')[0]), 'special tokens in the texts stay special tokens');
  const top = await post(h, '/rerank', { query, documents, top_n: 2 });
  t.same(top.body.results.map((x) => x.index), order.slice(0, 2), 'top_n');
});

t.test('each distinct prompt runs once: repeated pairs, and pairs whose texts join the same', async (t) => {
  const started = h.engine.started.length;
  const r = await post(h, '/score', { text_1: ['ab', 'a', 'ab'], text_2: ['c', 'bc', 'c'] });
  t.equal(r.status, 200);
  t.equal(h.engine.started.length, started + 2, '"ab"+"c" = "a"+"bc": one prompt, two requests');
  const s = r.body.data.map((d) => d.score);
  t.same([s[1], s[2]], [s[0], s[0]]);
  t.equal(r.body.usage.prompt_tokens, ids('abc').length, 'counted once');
});

t.test('truncate_prompt_tokens keeps the joined prompt\'s last tokens; priority reaches every request', async (t) => {
  const long = 'one two three four five six seven eight nine ten';
  const started = h.engine.started.length;
  const r = await post(h, '/score', { text_1: long, text_2: ' eleven twelve', truncate_prompt_tokens: 3, priority: 4 });
  t.equal(r.status, 200);
  const kept = ids(`${long} eleven twelve`).slice(-3);
  t.same(h.engine.startedPrompts.slice(started), [kept, kept]);
  t.equal(r.body.usage.prompt_tokens, 3);
  t.same(h.engine.startedParams.slice(started).map((p) => p.priority), [4, 4]);
  t.equal(r.body.data[0].score, twoWayScore(fakeLogprob(kept, NO), fakeLogprob(kept, YES)));
});

t.test('the context: a joined prompt may take every position but the one its logits are read at', async (t) => {
  const words = (n: number): string => Array.from({ length: n }, () => ' a').join('');
  t.equal(ids(words(10)).length, 10, 'one token a word');
  const fits = await post(h, '/score', { text_1: words(60), text_2: words(MAX_MODEL_LEN - 61) });
  t.equal(fits.status, 200, `${MAX_MODEL_LEN - 1} tokens fit`);
  const started = h.engine.started.length;
  const over = await post(h, '/v1/rerank', { query: words(60), documents: ['b', words(MAX_MODEL_LEN - 60)] });
  t.equal(over.status, 400);
  t.equal(over.body.error?.param, 'documents.1');
  t.match(over.body.error?.message, /maximum context length is 128 tokens\. However, you requested 128 tokens in the input for score \(query followed by documents\.1\).*at most 127 fit/);
  t.equal(h.engine.started.length, started, 'nothing reached the engine');
  const truncated = await post(h, '/score', { text_1: words(60), text_2: words(MAX_MODEL_LEN), truncate_prompt_tokens: -1 });
  t.equal(truncated.status, 200, 'truncate_prompt_tokens -1: the last max-model-len - 1');
  t.equal(truncated.body.usage.prompt_tokens, MAX_MODEL_LEN - 1);
  const bad = await post(h, '/score', { text_1: 'a', text_2: 'b', truncate_prompt_tokens: 0 });
  t.equal(bad.body.error?.param, 'truncate_prompt_tokens');
  const missing = await post(h, '/score', { text_1: 'a' });
  t.equal(missing.body.error?.param, 'text_2', 'the request\'s own 400s as without a classifier');
});

t.test('the queue bound counts engine requests (two a pair), before tokenizing', async (t) => {
  const q = await startServer({ config: { maxNumQueuedRequests: 3, hfOverrides: HF_OVERRIDES }, engine: { maxNumQueuedRequests: 3 } });
  t.teardown(() => q.close());
  const tooMany = await post(q, '/rerank', { query: 'a', documents: ['b', 'c'] });
  t.match({ status: tooMany.status, error: tooMany.body.error }, { status: 400, error: { param: 'documents', message: /needs 4 sequences/ } }, 'two pairs: four requests, more than the queue holds');
  t.equal((await post(q, '/rerank', { query: 'a', documents: ['b', 'b'] })).status, 200, 'one distinct pair: two');
  q.engine.pause();
  const queued = [0, 1, 2].map((i) => post(q, '/v1/embeddings', { input: `q${i}` }));
  await waitFor(() => q.engine.stats().numWaiting === 3, 'three queued embeddings');
  const started = q.engine.started.length;
  const full = await post(q, '/score', { text_1: 'a', text_2: 'b' });
  t.equal(full.status, 429);
  t.equal(q.engine.started.length, started, 'refused before the engine');
  q.engine.resume();
  for (const r of await Promise.all(queued)) t.equal(r.status, 200);
});

t.test('a client that leaves aborts every request; a timeout is a 408 and aborts them too', async (t) => {
  const before = h.engine.aborted.length;
  const started = h.engine.started.length;
  h.engine.pause();
  const req: ClientRequest = request(new URL('/v1/rerank', h.url), { method: 'POST', headers: { 'content-type': 'application/json' } });
  req.on('error', () => { /* destroyed on purpose */ });
  req.end(JSON.stringify({ query: 'one', documents: ['two', 'three'] }));
  await waitFor(() => h.engine.started.length === started + 4 && h.engine.stats().numWaiting === 4, 'its four requests to queue');
  req.destroy();
  await waitFor(() => h.engine.aborted.length === before + 4, 'the engine to abort all four');
  t.same(h.engine.aborted.slice(before).sort(), h.engine.started.slice(started).sort());
  h.engine.resume();
  t.same([h.engine.stats().numWaiting, h.engine.stats().numRunning, h.engine.stats().kvBlocksUsed], [0, 0, 0], 'nothing left');

  const slow = await startServer({ config: { requestTimeoutS: 0.1, hfOverrides: HF_OVERRIDES } });
  t.teardown(() => slow.close());
  slow.engine.pause();
  const r = await post(slow, '/score', { text_1: 'a', text_2: ['b', 'c'] });
  t.equal(r.status, 408);
  t.equal(r.body.error?.code, 'request_timeout');
  await waitFor(() => slow.engine.aborted.length === 4, 'all four aborted');
});

t.test('/v1/embeddings is unchanged by the classifier', async (t) => {
  const started = h.engine.started.length;
  const r = await post(h, '/v1/embeddings', { input: 'Hello there', normalize: false });
  t.equal(r.status, 200);
  t.same(r.body.data[0].embedding, [...fakeEmbedding(ids('Hello there'), 'last', 32)]);
  t.same(h.engine.startedEmbeds.slice(started), [{ pooling: 'last' }]);
});

t.test('a bad --hf-overrides fails start-up, naming the flag and the string', async (t) => {
  const cases: [string, RegExp][] = [
    ['{"classifier_from_token": ["no", "yes please"], "method": "from_2_way_softmax"}', /^--hf-overrides: classifier_from_token "yes please" is not a token/],
    ['{"classifier_from_token": ["no", " yes"], "is_original_qwen3_reranker": true}', /^--hf-overrides: classifier_from_token " yes" is not a token.*"Ġyes"/],
    ['{"num_labels": 1}', /^--hf-overrides: "num_labels" is not served/],
    ['{"classifier_from_token": ["no", "yes"]}', /^--hf-overrides: classifier_from_token needs a method/],
  ];
  for (const [hfOverrides, error] of cases) await t.rejects(startServer({ config: { hfOverrides } }), error, hfOverrides);
});
