// /v1/embeddings (OpenAI's and vLLM's) and llama.cpp's /embedding over the
// fake engine, whose embedding of a prompt is fakeEmbedding(ids, pooling):
// each input shape, usage, normalization (unit by default, raw with
// normalize false or --pooler-config's), base64, dimensions, vLLM's chat
// form and truncation, every 400, the queue bound (429), a client that
// leaves (every input aborted), llama.cpp's answer and embd_normalize, and
// the official openai client (float and its base64 default).

import { request, type ClientRequest } from 'node:http';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import type { PoolingType } from '../../src/engine/types.js';
import { fakeEmbedding } from '../helpers/fake-engine.js';
import { startServer, waitFor, type Harness } from '../helpers/server-harness.js';

interface Embedding {
  id: string;
  object: string;
  created: number;
  model: string;
  data: { object: string; index: number; embedding: number[] | string }[];
  usage: { prompt_tokens: number; total_tokens: number };
  error?: { message: string; type: string; param: string | null; code: string };
}

type Llama = { index: number; embedding: number[][] }[];

async function send(h: Harness, path: string, body: unknown): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: await res.json() };
}
const post = async (h: Harness, path: string, body: unknown): Promise<{ status: number; headers: Headers; body: Embedding }> => (await send(h, path, body)) as { status: number; headers: Headers; body: Embedding };
const postLlama = async (h: Harness, body: unknown, path = '/embedding'): Promise<{ status: number; body: Llama }> => (await send(h, path, body)) as { status: number; body: Llama };

/** llama.cpp's embd_normalize, written out again as the test's reference. */
function normalized(v: Float32Array, p = 2): number[] {
  const x = [...v];
  const sum = p === -1 ? 1 : p === 0 ? Math.max(...x.map(Math.abs)) / 32760 : Math.pow(x.reduce((a, b) => a + Math.abs(b) ** p, 0), 1 / p);
  return x.map((e) => e / sum);
}

function close(t: Test, got: readonly number[], want: readonly number[], what: string): void {
  const diff = got.length === want.length ? Math.max(...got.map((g, i) => Math.abs(g - want[i]))) : Infinity;
  t.ok(diff < 1e-5 * Math.max(1, ...want.map(Math.abs)), `${what}: length ${got.length}, max difference ${diff}`);
}

const norm = (v: readonly number[]): number => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
const floats = (b64: string): number[] => {
  const bytes = Buffer.from(b64, 'base64');
  return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
};

let h: Harness;
t.before(async () => {
  h = await startServer({ engine: { maxModelLen: 64 } });
});
t.teardown(() => h.close());

const ids = (text: string): number[] => h.engine.tokenizer.encode(text, true);
const expect = (prompt: number[], pooling: PoolingType = 'last'): Float32Array => fakeEmbedding(prompt, pooling, 32);

t.test('each input shape: one embedding per item, in order, with usage', async (t) => {
  const cases: { input: unknown; prompts: number[][] }[] = [
    { input: 'Hello there', prompts: [ids('Hello there')] },
    { input: ['first text', 'the second one', 'x'], prompts: [ids('first text'), ids('the second one'), ids('x')] },
    { input: [5, 6, 7], prompts: [[5, 6, 7]] },
    { input: [[5, 6], [9], [1, 2, 3, 4]], prompts: [[5, 6], [9], [1, 2, 3, 4]] },
  ];
  for (const c of cases) {
    const started = h.engine.started.length;
    const r = await post(h, '/v1/embeddings', { model: 'fake-model', input: c.input });
    t.equal(r.status, 200, JSON.stringify(c.input));
    t.match(r.body, { object: 'list', model: 'fake-model', id: /^embd-[0-9a-f]{32}$/ });
    t.type(r.body.created, 'number');
    t.same(r.body.data.map((d) => [d.object, d.index]), c.prompts.map((_, i) => ['embedding', i]), 'one per item, in order');
    c.prompts.forEach((p, i) => { close(t, r.body.data[i].embedding as number[], normalized(expect(p)), `item ${i}`); });
    const tokens = c.prompts.reduce((a, p) => a + p.length, 0);
    t.same(r.body.usage, { prompt_tokens: tokens, total_tokens: tokens }, 'usage counts every prompt token');
    t.equal(h.engine.started.length, started + c.prompts.length, 'one engine request per input');
    t.same(h.engine.startedEmbeds.slice(started), c.prompts.map(() => ({ pooling: 'last' })), 'each an embedding with the model\'s pooling');
    t.ok(h.engine.startedParams.slice(started).every((p) => p.n === 1), 'one choice each');
  }
});

t.test('normalization, base64, dimensions, priority', async (t) => {
  const unit = await post(h, '/v1/embeddings', { input: 'Hello there' });
  const v = unit.body.data[0].embedding as number[];
  t.ok(Math.abs(norm(v) - 1) < 1e-6, `unit norm by default (${norm(v)})`);
  const raw = await post(h, '/v1/embeddings', { input: 'Hello there', normalize: false });
  t.same(raw.body.data[0].embedding, [...expect(ids('Hello there'))], 'normalize false: the pooled state as the engine gave it');
  t.ok(norm(raw.body.data[0].embedding as number[]) > 1.5, 'which is not of unit norm');
  const b64 = await post(h, '/v1/embeddings', { input: ['Hello there', 'x'], encoding_format: 'base64' });
  t.equal(b64.status, 200);
  t.type(b64.body.data[0].embedding, 'string');
  t.same(floats(b64.body.data[0].embedding as string), v, 'base64: little-endian float32, the same floats as the float format');
  t.same(floats((await post(h, '/v1/embeddings', { input: 'x', encoding_format: 'base64', normalize: false })).body.data[0].embedding as string), [...expect(ids('x'))], 'raw, as base64');
  t.same((await post(h, '/v1/embeddings', { input: 'Hello there', dimensions: 32, encoding_format: 'float', user: 'u1' })).body.data[0].embedding, v, 'dimensions equal to the model\'s width: served');
  await post(h, '/v1/embeddings', { input: 'x', priority: 5 });
  t.equal(h.engine.startedParams.at(-1)?.priority, 5, 'priority reaches the engine');
  t.equal((await post(h, '/v1/embeddings', { input: 'x', frobnicate: 1 })).status, 200, 'unknown fields are ignored, as on every route');
});

t.test('dimensions on matryoshka models: cut, then normalized (vLLM\'s order)', async (t) => {
  const any = await startServer({ engine: { maxModelLen: 64, matryoshka: true } });
  t.teardown(() => any.close());
  const raw = expect(ids('Hello there'));
  const cut = await post(any, '/v1/embeddings', { input: 'Hello there', dimensions: 8 });
  t.equal(cut.status, 200);
  close(t, cut.body.data[0].embedding as number[], normalized(raw.subarray(0, 8)), 'the first 8 values, then unit norm');
  const cutRaw = await post(any, '/v1/embeddings', { input: 'Hello there', dimensions: 5, normalize: false, encoding_format: 'base64' });
  t.same(floats(cutRaw.body.data[0].embedding as string), [...raw.subarray(0, 5)], 'normalize false: the first 5 as they are');
  const wide = await post(any, '/v1/embeddings', { input: 'x', dimensions: 33 });
  t.match({ status: wide.status, body: wide.body }, { status: 400, body: { error: { param: 'dimensions', message: /at most 32/ } } }, 'not wider than the model');
  const listed = await startServer({ engine: { maxModelLen: 64, matryoshka: [8, 16] } });
  t.teardown(() => listed.close());
  t.equal((await post(listed, '/v1/embeddings', { input: 'x', dimensions: 16 })).body.data[0].embedding.length, 16, 'a listed width is served');
  t.equal((await post(listed, '/v1/embeddings', { input: 'x', dimensions: 32 })).status, 200, 'so is the full width');
  const other = await post(listed, '/v1/embeddings', { input: 'x', dimensions: 12 });
  t.match({ status: other.status, body: other.body }, { status: 400, body: { error: { param: 'dimensions', message: /only supports \[8,16\] matryoshka dimensions/ } } }, 'another width is vLLM\'s 400');
});

t.test('truncate_prompt_tokens, add_special_tokens and vLLM\'s chat form', async (t) => {
  const mean = await startServer({ engine: { maxModelLen: 64, pooling: 'mean' } });
  t.teardown(() => mean.close());
  const prompt = [11, 12, 13, 14, 15, 16];
  const cut = await post(mean, '/v1/embeddings', { input: prompt, truncate_prompt_tokens: 3, normalize: false });
  t.same(cut.body.usage.prompt_tokens, 3, 'the last 3 tokens ran');
  close(t, cut.body.data[0].embedding as number[], [...expect([14, 15, 16], 'mean')], 'mean pooling over the kept tokens');
  t.same(mean.engine.startedEmbeds.at(-1), { pooling: 'mean' }, '--pooling reaches the engine');
  t.equal((await post(mean, '/v1/embeddings', { input: prompt, truncate_prompt_tokens: -1 })).body.usage.prompt_tokens, 6, '-1: up to max-model-len');

  // Special tokens: the encoder is asked as the request says (Qwen3's tokenizer adds none itself).
  const asked: boolean[] = [];
  const real = h.ctx.encoder;
  h.ctx.encoder = { ...real, encode: (text, add) => { asked.push(add); return real.encode(text, add); } };
  await post(h, '/v1/embeddings', { input: 'x' });
  await post(h, '/v1/embeddings', { input: 'x', add_special_tokens: false });
  h.ctx.encoder = real;
  t.same(asked, [true, false], 'add_special_tokens: true by default, as vLLM');

  const messages = [{ role: 'system', content: 'Embed this.' }, { role: 'user', content: 'A query about foxes' }];
  const rendered = (gen: boolean): number[] => h.engine.tokenizer.encode(h.engine.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: gen }), false);
  const chat = await post(h, '/v1/embeddings', { messages, normalize: false });
  t.equal(chat.status, 200);
  t.equal(chat.body.usage.prompt_tokens, rendered(false).length, 'the chat template, no generation prompt by default');
  t.same(chat.body.data[0].embedding, [...expect(rendered(false))]);
  t.equal((await post(h, '/v1/embeddings', { messages, add_generation_prompt: true })).body.usage.prompt_tokens, rendered(true).length, 'add_generation_prompt true opens the assistant turn');
});

t.test('every bad request is a 400 naming the field (a wrong model a 404); nothing reaches the engine', async (t) => {
  const long = Array.from({ length: 65 }, () => 5);
  const cases: { body: object; param: string | null; message?: RegExp; status?: number }[] = [
    { body: { input: { text: 'x' } }, param: 'input' },
    { body: { input: 5 }, param: 'input' },
    // Texts and ids mixed: the schema names the first item out of line.
    { body: { input: ['a', 5] }, param: 'input.1' },
    { body: { input: [[1, 2], 'a'] }, param: 'input.0' },
    { body: { input: '' }, param: 'input', message: /input is empty/ },
    { body: { input: ['a', ''] }, param: 'input.1', message: /input\.1 is empty/ },
    { body: { input: [] }, param: 'input', message: /empty list/ },
    { body: { input: [[1], []] }, param: 'input.1' },
    { body: { input: Array.from({ length: 2049 }, () => 'a') }, param: 'input', message: /at most 2048/ },
    { body: { input: [1, 99999999] }, param: 'input', message: /out of vocabulary/ },
    { body: { input: long }, param: 'input', message: /maximum context length is 64 tokens\. However, you requested 65 tokens/ },
    { body: { input: [[1], long] }, param: 'input.1', message: /requested 65 tokens/ },
    { body: {}, param: 'input', message: /Either input or messages is required/ },
    { body: { input: 'x', messages: [{ role: 'user', content: 'x' }] }, param: 'messages', message: /either input or messages/ },
    { body: { messages: [] }, param: 'messages' },
    { body: { messages: [{ role: 'wizard', content: 'x' }] }, param: 'messages.0.role' },
    { body: { input: 'x', encoding_format: 'bytes' }, param: 'encoding_format', message: /"float" or "base64"/ },
    { body: { input: 'x', dimensions: 16 }, param: 'dimensions', message: /does not support matryoshka representation/ },
    { body: { input: 'x', dimensions: 0 }, param: 'dimensions', message: /at least 1/ },
    { body: { input: 'x', truncate_prompt_tokens: 0 }, param: 'truncate_prompt_tokens' },
    { body: { input: 'x', normalize: 'yes' }, param: 'normalize' },
    { body: { input: 'x', priority: 1.5 }, param: 'priority' },
    { body: { model: 'gpt-4', input: 'x' }, param: 'model', status: 404 },
  ];
  const started = h.engine.started.length;
  for (const c of cases) {
    const r = await post(h, '/v1/embeddings', c.body);
    const what = JSON.stringify(c.body).slice(0, 80);
    t.equal(r.status, c.status ?? 400, `${what}: ${r.body.error?.message}`);
    t.equal(r.body.error?.param, c.param, `${what}: param`);
    t.equal(r.body.error?.code, c.status === 404 ? 'model_not_found' : 'invalid_request');
    if (c.message) t.match(r.body.error?.message, c.message);
  }
  t.equal(h.engine.started.length, started, 'none reached the engine');
  t.equal((await post(h, '/v1/embeddings', { input: 'still here' })).status, 200, 'and the server still serves');
});

t.test('the queue bound: 429 with Retry-After when full, 400 when one request alone exceeds it', async (t) => {
  const q = await startServer({ config: { maxNumQueuedRequests: 3 }, engine: { maxNumQueuedRequests: 3 } });
  t.teardown(() => q.close());
  q.engine.pause();
  const queued = [0, 1, 2].map((i) => post(q, '/v1/embeddings', { input: `q${i}` }));
  await waitFor(() => q.engine.stats().numWaiting === 3, 'three queued embeddings');
  for (const path of ['/v1/embeddings', '/embedding']) {
    const r = await post(q, path, { input: 'one more' });
    t.equal(r.status, 429, path);
    t.equal(r.body.error?.code, 'queue_full');
    t.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After');
  }
  const tooMany = await post(q, '/v1/embeddings', { input: ['a', 'b', 'c', 'd'] });
  t.equal(tooMany.status, 400);
  t.match(tooMany.body.error, { param: 'input', message: /needs 4 sequences/ });
  t.equal(q.engine.started.length, 3, 'the refused ones never reached the engine');
  q.engine.resume();
  for (const r of await Promise.all(queued)) t.equal(r.status, 200, 'the queued ones complete');
});

t.test('a client that leaves aborts every one of its inputs', async (t) => {
  const before = h.engine.aborted.length;
  const started = h.engine.started.length;
  h.engine.pause();
  const req: ClientRequest = request(new URL('/v1/embeddings', h.url), { method: 'POST', headers: { 'content-type': 'application/json' } });
  req.on('error', () => { /* destroyed on purpose */ });
  req.end(JSON.stringify({ input: ['one', 'two', 'three'] }));
  await waitFor(() => h.engine.started.length === started + 3 && h.engine.stats().numWaiting === 3, 'the three inputs to queue');
  req.destroy();
  await waitFor(() => h.engine.aborted.length === before + 3, 'the engine to abort all three');
  t.same(h.engine.aborted.slice(before).sort(), h.engine.started.slice(started).sort(), 'each input\'s request was aborted');
  t.match(h.engine.started.at(-1), /^embd-[0-9a-f]{32}-2$/, 'named after the response id and the input');
  h.engine.resume();
  t.same([h.engine.stats().numWaiting, h.engine.stats().numRunning, h.engine.stats().kvBlocksUsed], [0, 0, 0], 'nothing left');
});

t.test('--request-timeout: a 408, and every input aborted', async (t) => {
  const slow = await startServer({ config: { requestTimeoutS: 0.1 } });
  t.teardown(() => slow.close());
  slow.engine.pause();
  const r = await post(slow, '/v1/embeddings', { input: ['a', 'b'] });
  t.equal(r.status, 408);
  t.equal(r.body.error?.code, 'request_timeout');
  await waitFor(() => slow.engine.aborted.length === 2, 'both inputs aborted');
  t.equal(slow.engine.stats().numWaiting, 0);
});

t.test('--pooler-config normalize false: raw vectors unless a request asks', async (t) => {
  const raw = await startServer({ config: { poolerConfig: '{"pooling_type": "MEAN", "normalize": false}' } });
  t.teardown(() => raw.close());
  const r = await post(raw, '/v1/embeddings', { input: [3, 4, 5] });
  t.same(r.body.data[0].embedding, [...expect([3, 4, 5])], 'not normalized by default');
  const n = await post(raw, '/v1/embeddings', { input: [3, 4, 5], normalize: true });
  t.ok(Math.abs(norm(n.body.data[0].embedding as number[]) - 1) < 1e-6, 'normalize true still normalizes');
});

t.test('llama.cpp\'s /embedding and /embeddings: its shape and each embd_normalize', async (t) => {
  const pooled = expect(ids('Hello there'));
  for (const path of ['/embedding', '/embeddings']) {
    const r = await postLlama(h, { content: 'Hello there' }, path);
    t.equal(r.status, 200, path);
    t.equal(r.body.length, 1);
    t.equal(r.body[0].index, 0);
    t.equal(r.body[0].embedding.length, 1, 'pooled: one inner vector');
    close(t, r.body[0].embedding[0], normalized(pooled, 2), `${path}: euclidean by default`);
  }
  for (const p of [-1, 0, 1, 2, 3, 7]) {
    const r = await postLlama(h, { content: 'Hello there', embd_normalize: p });
    close(t, r.body[0].embedding[0], normalized(pooled, p), `embd_normalize ${p}`);
  }
  const m0 = (await postLlama(h, { content: 'Hello there', embd_normalize: 0 })).body[0].embedding[0];
  t.ok(Math.abs(Math.max(...m0.map(Math.abs)) - 32760) < 0.01, 'max absolute: scaled to int16\'s range');
  const many = await postLlama(h, { content: ['first', [5, 6, 7]], embd_normalize: -1 });
  t.same(many.body.map((e) => e.index), [0, 1]);
  t.same(many.body[1].embedding[0], [...expect([5, 6, 7])], 'token ids as they are');
  t.same((await postLlama(h, { input: [5, 6, 7], embd_normalize: -1 }, '/embeddings')).body[0].embedding[0], [...expect([5, 6, 7])], '`input` too, as llama.cpp reads it');
  for (const [body, param, message] of [
    [{}, 'content', /"input" or "content" must be provided/],
    [{ content: '' }, 'content', /is empty/],
    [{ content: 'x', embd_normalize: -2 }, 'embd_normalize', /embd_normalize/],
    [{ content: { a: 1 } }, 'content', /content/],
  ] as const) {
    const r = await post(h, '/embedding', body);
    t.equal(r.status, 400, JSON.stringify(body));
    t.match(r.body.error, { param, message });
  }
});

t.test('--pooling none: every token\'s vector on llama.cpp\'s /embedding (not normalized), a 400 on the OpenAI-shaped routes', async (t) => {
  const none = await startServer({ engine: { maxModelLen: 64, pooling: 'none' } });
  t.teardown(() => none.close());
  const r = await postLlama(none, { content: [[5, 6, 7], [9]] });
  t.equal(r.status, 200);
  t.same(r.body[0].embedding, [5, 6, 7].map((id) => [...expect([id])]), 'one raw vector a token, in order');
  t.same(r.body[1].embedding, [[...expect([9])]]);
  t.same(none.engine.startedEmbeds.at(-1), { pooling: 'none' }, 'the engine was asked for every row');
  for (const [path, body, param] of [['/v1/embeddings', { input: 'x' }, 'input'], ['/v1/score', { text_1: 'a', text_2: 'b' }, 'text_1'], ['/v1/rerank', { query: 'a', documents: ['b'] }, 'query']] as const) {
    const refused = await post(none, path, body);
    t.equal(refused.status, 400, path);
    t.match(refused.body.error, { param, message: /Pooling type 'none' is not OAI compatible/ });
  }
});

t.test('the official openai client: float, and its base64 default decoded', async (t) => {
  const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const input = ['The quick brown fox', 'jumps over the lazy dog'];
  const want = input.map((s) => normalized(expect(ids(s))));
  const f = await client.embeddings.create({ model: 'fake-model', input, encoding_format: 'float' });
  t.equal(f.object, 'list');
  t.same(f.data.map((d) => d.index), [0, 1]);
  f.data.forEach((d, i) => { close(t, d.embedding, want[i], `float ${i}`); });
  const b = await client.embeddings.create({ model: 'fake-model', input });
  b.data.forEach((d, i) => {
    t.ok(d.embedding.length === 32, `base64 ${i}: decoded to 32 floats`);
    t.same([...d.embedding], f.data[i].embedding, `base64 ${i}: the same floats as the float format`);
  });
  t.same(b.usage, f.usage);
  t.equal(b.usage.prompt_tokens, ids(input[0]).length + ids(input[1]).length);
});
