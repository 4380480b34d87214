// vLLM's score (/score, /v1/score) and rerank (/rerank, /v1/rerank,
// /v2/rerank) APIs over the fake engine, whose embedding of a prompt is
// fakeEmbedding(ids, pooling) (last pooling: its last token's state): the
// pairings (1:N, N:N) and vLLM's field names, scores equal to the cosine of
// those vectors, rerank's order and top_n, each distinct text embedded
// once, usage, every 400, the queue bound (429), the model check, and a
// client that leaves (every engine request aborted).

import { request, type ClientRequest } from 'node:http';
import t, { type Test } from 'tap';
import { cosine } from '../../src/server/routes/score.js';
import { fakeEmbedding } from '../helpers/fake-engine.js';
import { startServer, waitFor, type Harness } from '../helpers/server-harness.js';

interface ApiError {
  error?: { message: string; type: string; param: string | null; code: string };
}
interface Score extends ApiError {
  id: string;
  object: string;
  created: number;
  model: string;
  data: { index: number; object: string; score: number }[];
  usage: { prompt_tokens: number; total_tokens: number; completion_tokens: number };
}
interface Rerank extends ApiError {
  id: string;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
  results: { index: number; document: { text: string }; relevance_score: number }[];
}

/** Either answer (or an error): each test reads the fields of the route it asked. */
type Answer = Score & Rerank;

async function post(h: Harness, path: string, body: unknown): Promise<{ status: number; headers: Headers; body: Answer }> {
  const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer };
}

let h: Harness;
t.before(async () => {
  h = await startServer({ engine: { maxModelLen: 64 } });
});
t.teardown(() => h.close());

const ids = (text: string): number[] => h.engine.tokenizer.encode(text, true);

/** The cosine of two texts' fake embeddings, written out again (float64) as the test's reference. */
function want(a: string, b: string): number {
  const [x, y] = [fakeEmbedding(ids(a), 'last', 32), fakeEmbedding(ids(b), 'last', 32)];
  const dot = x.reduce((s, v, i) => s + v * y[i], 0);
  return dot / Math.hypot(...x) / Math.hypot(...y);
}

function close(t: Test, got: readonly number[], expected: readonly number[], what: string): void {
  const diff = got.length === expected.length ? Math.max(0, ...got.map((g, i) => Math.abs(g - expected[i]))) : Infinity;
  t.ok(diff < 1e-6, `${what}: ${got.length} scores, max difference ${diff}`);
}

const tokensOf = (texts: string[]): number => [...new Set(texts)].reduce((a, s) => a + ids(s).length, 0);

t.test('cosine: of the vectors\' directions; a zero vector scores 0, never NaN', (t) => {
  const v = Float32Array.from([3, -4, 1]);
  t.ok(Math.abs(cosine(v, v.map((x) => x * 7)) - 1) < 1e-12, 'scale does not matter');
  t.ok(Math.abs(cosine(v, v.map((x) => -x)) + 1) < 1e-12, 'opposite: -1');
  t.equal(cosine(Float32Array.from([1, 0]), Float32Array.from([0, 2])), 0, 'orthogonal: 0');
  t.equal(cosine(new Float32Array(3), v), 0, 'a zero vector: 0');
  t.equal(cosine(new Float32Array(3), new Float32Array(3)), 0, 'two zero vectors: 0');
  const tiny = Float32Array.from([1e-30, 1e-30]);
  t.ok(cosine(tiny, tiny) <= 1, 'never above 1');
  t.end();
});

t.test('/score and /v1/score: 1:N, N:N and vLLM\'s names for the two sides', async (t) => {
  const cases: { body: object; pairs: [string, string][] }[] = [
    { body: { text_1: 'What is the capital of France?', text_2: 'Paris is the capital of France.' }, pairs: [['What is the capital of France?', 'Paris is the capital of France.']] },
    { body: { text_1: 'the lazy dog', text_2: ['a red fox', 'green hills', 'x'] }, pairs: [['the lazy dog', 'a red fox'], ['the lazy dog', 'green hills'], ['the lazy dog', 'x']] },
    { body: { text_1: ['the lazy dog'], text_2: ['green hills', 'x'] }, pairs: [['the lazy dog', 'green hills'], ['the lazy dog', 'x']] },
    { body: { text_1: ['the lazy dog', 'x'], text_2: ['green hills', 'seven birds sing'] }, pairs: [['the lazy dog', 'green hills'], ['x', 'seven birds sing']] },
    { body: { data_1: 'x', data_2: ['green hills', 'seven birds sing'] }, pairs: [['x', 'green hills'], ['x', 'seven birds sing']] },
    { body: { queries: ['x', 'green hills'], documents: ['a red fox', 'the lazy dog'] }, pairs: [['x', 'a red fox'], ['green hills', 'the lazy dog']] },
    { body: { queries: 'seven birds sing', items: ['a red fox'] }, pairs: [['seven birds sing', 'a red fox']] },
  ];
  for (const [k, c] of cases.entries()) {
    const path = k % 2 === 0 ? '/score' : '/v1/score';
    const what = `${path} ${JSON.stringify(c.body).slice(0, 60)}`;
    const started = h.engine.started.length;
    const r = await post(h, path, { model: 'fake-model', ...c.body });
    t.equal(r.status, 200, what);
    t.match(r.body, { object: 'list', model: 'fake-model', id: /^score-[0-9a-f]{32}$/ });
    t.type(r.body.created, 'number');
    t.same(r.body.data.map((d) => [d.index, d.object]), c.pairs.map((_, i) => [i, 'score']), `${what}: one score a pair, in order`);
    close(t, r.body.data.map((d) => d.score), c.pairs.map(([a, b]) => want(a, b)), what);
    const distinct = [...new Set(c.pairs.flat())];
    const tokens = tokensOf(distinct);
    t.same(r.body.usage, { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 }, `${what}: usage counts the tokens embedded`);
    t.equal(h.engine.started.length, started + distinct.length, `${what}: one engine request per distinct text`);
    t.same(h.engine.startedEmbeds.slice(started), distinct.map(() => ({ pooling: 'last' })), 'each an embedding with the model\'s pooling');
  }
});

t.test('each distinct text is embedded once; identical texts score 1', async (t) => {
  const started = h.engine.started.length;
  const r = await post(h, '/v1/score', { text_1: 'the lazy dog', text_2: ['the lazy dog', 'green hills', 'the lazy dog', 'green hills'] });
  t.equal(r.status, 200);
  t.equal(h.engine.started.length, started + 2, 'two distinct texts, two engine requests');
  t.match(h.engine.started.slice(started), [/^score-[0-9a-f]{32}-0$/, /^score-[0-9a-f]{32}-1$/], 'named after the response id');
  const scores = r.body.data.map((d) => d.score);
  t.ok(Math.abs(scores[0] - 1) < 1e-6, `a text against itself: 1 (${scores[0]})`);
  t.same([scores[2], scores[3]], [scores[0], scores[1]], 'repeated pairs, the same scores');
  t.equal(r.body.usage.prompt_tokens, tokensOf(['the lazy dog', 'green hills']), 'usage counts each distinct text once');
  const pairwise = await post(h, '/score', { text_1: ['x', 'green hills'], text_2: ['green hills', 'x'] });
  t.equal(h.engine.started.length, started + 4, 'across the sides too');
  t.equal(pairwise.body.data[0].score, pairwise.body.data[1].score, 'cosine is symmetric');
});

t.test('truncate_prompt_tokens and priority', async (t) => {
  const long = 'one two three four five six seven eight nine ten';
  const r = await post(h, '/score', { text_1: long, text_2: 'x', truncate_prompt_tokens: 3, priority: 4 });
  t.equal(r.status, 200);
  t.equal(r.body.usage.prompt_tokens, 3 + 1, 'the last 3 tokens of the long text ran');
  t.same(h.engine.startedParams.slice(-2).map((p) => p.priority), [4, 4], 'priority reaches every engine request');
  const rr = await post(h, '/rerank', { query: long, documents: [long], truncate_prompt_tokens: 2 });
  t.equal(rr.body.usage.prompt_tokens, 2, 'rerank too (the query and the document are one text)');
});

t.test('/rerank, /v1/rerank, /v2/rerank: by relevance (cosine), ties in order, top_n', async (t) => {
  const query = 'the lazy dog';
  // The fake engine pools the last token: the two foxes tie.
  const documents = ['a red fox', 'green hills', 'x', 'seven birds sing', 'a brown fox'];
  const scores = documents.map((d) => want(query, d));
  const order = documents.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  t.ok(order.indexOf(0) < order.indexOf(4), 'the reference keeps the tie in document order');
  for (const path of ['/rerank', '/v1/rerank', '/v2/rerank']) {
    const started = h.engine.started.length;
    const r = await post(h, path, { model: 'fake-model', query, documents });
    t.equal(r.status, 200, path);
    t.match(r.body, { id: /^rerank-[0-9a-f]{32}$/, model: 'fake-model' });
    t.same(Object.keys(r.body), ['id', 'model', 'usage', 'results'], 'vLLM\'s RerankResponse');
    t.same(r.body.results.map((x) => x.index), order, `${path}: every document, by relevance_score descending`);
    t.same(r.body.results.map((x) => x.document), order.map((i) => ({ text: documents[i] })), 'each with its text');
    close(t, r.body.results.map((x) => x.relevance_score), order.map((i) => scores[i]), path);
    const tokens = tokensOf([query, ...documents]);
    t.same(r.body.usage, { prompt_tokens: tokens, total_tokens: tokens });
    t.equal(h.engine.started.length, started + 6, 'the query and the documents in one run');
  }
  const cases: [object, number[]][] = [
    [{ top_n: 2 }, order.slice(0, 2)],
    [{ top_n: 0 }, order],
    [{ top_n: -1 }, order],
    [{ top_n: 99 }, order],
    [{ top_n: null }, order],
    [{ top_n: 1, return_documents: false }, order.slice(0, 1)],
  ];
  for (const [extra, indexes] of cases) {
    const r = await post(h, '/v1/rerank', { query, documents, ...extra });
    t.same(r.body.results.map((x) => x.index), indexes, JSON.stringify(extra));
  }
  const returned = await post(h, '/v1/rerank', { query, documents, return_documents: false });
  t.ok(returned.body.results.every((x) => x.document.text === documents[x.index]), 'return_documents false: the texts anyway, as vLLM');
  const one = await post(h, '/rerank', { query, documents: 'green hills' });
  t.same(one.body.results.map((x) => [x.index, x.document.text]), [[0, 'green hills']], 'documents as one text, as vLLM reads it');
  const self = await post(h, '/rerank', { query, documents: ['x', query] });
  t.equal(self.body.results[0].index, 1, 'the query itself comes first');
  t.ok(Math.abs(self.body.results[0].relevance_score - 1) < 1e-6);
  t.equal(self.body.usage.prompt_tokens, tokensOf([query, 'x']), 'and is embedded once');
});

t.test('every bad request is a 400 naming the field (a wrong model a 404); nothing reaches the engine', async (t) => {
  const long = Array.from({ length: 70 }, (_, i) => `w${i}`).join(' ');
  const score: { body: object; param: string; message?: RegExp; status?: number }[] = [
    { body: {}, param: 'text_1', message: /text_1 and text_2 .* are required/ },
    { body: { text_1: 'a' }, param: 'text_2', message: /text_2 is required with text_1/ },
    { body: { text_2: 'a' }, param: 'text_1', message: /text_1 is required with text_2/ },
    { body: { queries: 'a' }, param: 'documents', message: /documents is required with queries/ },
    { body: { items: ['a'] }, param: 'queries', message: /queries is required with items/ },
    { body: { data_1: 'a', text_2: 'b' }, param: 'text_2', message: /text_2 and data_1 are not a pair/ },
    { body: { text_1: 'a', text_2: 'b', queries: 'c' }, param: 'queries', message: /one pair of fields: text_1 and text_2/ },
    { body: { queries: 'a', documents: 'b', items: 'c' }, param: 'items' },
    { body: { text_1: [], text_2: 'b' }, param: 'text_1', message: /empty list/ },
    { body: { text_1: 'a', text_2: [] }, param: 'text_2', message: /empty list/ },
    { body: { text_1: '', text_2: 'b' }, param: 'text_1', message: /text_1 is empty/ },
    { body: { text_1: 'a', text_2: ['b', ''] }, param: 'text_2.1', message: /text_2\.1 is empty/ },
    { body: { text_1: ['a', 'b'], text_2: ['c', 'd', 'e'] }, param: 'text_1', message: /text_1 has 2 texts and text_2 has 3/ },
    { body: { text_1: 5, text_2: 'b' }, param: 'text_1' },
    { body: { text_1: 'a', text_2: ['b', 5] }, param: 'text_2.1' },
    { body: { text_1: 'a', text_2: [[1, 2]] }, param: 'text_2.0' },
    { body: { text_1: 'a', text_2: Array.from({ length: 2049 }, () => 'b') }, param: 'text_2', message: /at most 2048/ },
    { body: { text_1: 'a', text_2: ['b', long] }, param: 'text_2.1', message: /maximum context length is 64 tokens/ },
    { body: { text_1: long, text_2: ['b', long] }, param: 'text_1', message: /maximum context length/ },
    { body: { text_1: 'a', text_2: 'b', truncate_prompt_tokens: 0 }, param: 'truncate_prompt_tokens' },
    { body: { text_1: 'a', text_2: 'b', priority: 1.5 }, param: 'priority' },
    { body: { model: 'gpt-4', text_1: 'a', text_2: 'b' }, param: 'model', status: 404 },
  ];
  const rerank: { body: object; param: string; message?: RegExp; status?: number }[] = [
    { body: {}, param: 'query', message: /Missing required fields 'query', 'documents'/ },
    { body: { query: 'q' }, param: 'documents' },
    { body: { query: '', documents: ['a'] }, param: 'query', message: /query is empty/ },
    { body: { query: ['q'], documents: ['a'] }, param: 'query' },
    { body: { query: 'q', documents: [] }, param: 'documents', message: /empty list/ },
    { body: { query: 'q', documents: ['a', ''] }, param: 'documents.1', message: /documents\.1 is empty/ },
    // vLLM reads only texts (or a multimodal model's content parts), not Cohere's {text} objects.
    { body: { query: 'q', documents: [{ text: 'a' }] }, param: 'documents.0' },
    { body: { query: 'q', documents: ['a', long] }, param: 'documents.1', message: /maximum context length/ },
    { body: { query: 'q', documents: ['a'], top_n: 1.5 }, param: 'top_n' },
    { body: { query: 'q', documents: ['a'], return_documents: 'yes' }, param: 'return_documents' },
    { body: { query: 'q', documents: ['a'], truncate_prompt_tokens: -2 }, param: 'truncate_prompt_tokens' },
    { body: { model: 'gpt-4', query: 'q', documents: ['a'] }, param: 'model', status: 404 },
  ];
  const started = h.engine.started.length;
  for (const [path, cases] of [['/v1/score', score], ['/v1/rerank', rerank]] as const) {
    for (const c of cases) {
      const r = await post(h, path, c.body);
      const what = `${path} ${JSON.stringify(c.body).slice(0, 70)}`;
      t.equal(r.status, c.status ?? 400, `${what}: ${r.body.error?.message}`);
      t.equal(r.body.error?.param, c.param, `${what}: param`);
      t.equal(r.body.error?.code, c.status === 404 ? 'model_not_found' : 'invalid_request');
      if (c.message) t.match(r.body.error?.message, c.message);
    }
  }
  t.equal(h.engine.started.length, started, 'none reached the engine');
  t.equal((await post(h, '/score', { text_1: 'still', text_2: 'here' })).status, 200, 'and the server still serves');
});

t.test('the queue bound: 429 with Retry-After when full, 400 when one request alone exceeds it', async (t) => {
  const q = await startServer({ config: { maxNumQueuedRequests: 3 }, engine: { maxNumQueuedRequests: 3 } });
  t.teardown(() => q.close());
  q.engine.pause();
  const queued = [0, 1, 2].map((i) => post(q, '/v1/embeddings', { input: `q${i}` }));
  await waitFor(() => q.engine.stats().numWaiting === 3, 'three queued embeddings');
  for (const [path, body] of [['/score', { text_1: 'a', text_2: 'b' }], ['/v2/rerank', { query: 'a', documents: ['b'] }]] as const) {
    const r = await post(q, path, body);
    t.equal(r.status, 429, path);
    t.equal(r.body.error?.code, 'queue_full');
    t.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After');
  }
  const tooMany = await post(q, '/rerank', { query: 'a', documents: ['b', 'c', 'd'] });
  t.match({ status: tooMany.status, error: tooMany.body.error }, { status: 400, error: { param: 'documents', message: /needs 4 sequences/ } }, 'four distinct texts can never wait in a queue of 3');
  t.equal(q.engine.started.length, 3, 'the refused ones never reached the engine');
  q.engine.resume();
  for (const r of await Promise.all(queued)) t.equal(r.status, 200, 'the queued ones complete');
  const repeated = await post(q, '/rerank', { query: 'a', documents: ['b', 'a', 'b', 'a'] });
  t.equal(repeated.status, 200, 'counted in distinct texts: two fit');
});

t.test('a client that leaves aborts every one of its engine requests', async (t) => {
  for (const [path, body] of [['/v1/rerank', { query: 'one', documents: ['two', 'three'] }], ['/score', { text_1: ['one', 'two'], text_2: ['three', 'four'] }]] as const) {
    const before = h.engine.aborted.length;
    const started = h.engine.started.length;
    const count = path === '/score' ? 4 : 3;
    h.engine.pause();
    const req: ClientRequest = request(new URL(path, h.url), { method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('error', () => { /* destroyed on purpose */ });
    req.end(JSON.stringify(body));
    await waitFor(() => h.engine.started.length === started + count && h.engine.stats().numWaiting === count, `${path}: its texts to queue`);
    req.destroy();
    await waitFor(() => h.engine.aborted.length === before + count, `${path}: the engine to abort all of them`);
    t.same(h.engine.aborted.slice(before).sort(), h.engine.started.slice(started).sort(), `${path}: each text's request was aborted`);
    h.engine.resume();
    t.same([h.engine.stats().numWaiting, h.engine.stats().numRunning, h.engine.stats().kvBlocksUsed], [0, 0, 0], 'nothing left');
  }
});
