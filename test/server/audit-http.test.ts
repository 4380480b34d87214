// Audit fixes on the HTTP side, over the fake engine: a client that leaves
// while its long prompt is tokenized (in the worker) leaves nothing behind
// and nothing in the log; /v1/completions defaults max_tokens to 16 (chat
// runs to the context); unsupported OpenAI fields, echo with logprobs and
// malformed chat messages are 400s naming the field; n and top_logprobs
// limits report the right param. The server keeps serving after each.

import { EventEmitter } from 'node:events';
import { request, type ClientRequest } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import type { FastifyReply } from 'fastify';
import { requestAbort } from '../../src/server/abort.js';
import { gateEncoder } from '../helpers/gate-encoder.js';
import { startServer, waitFor, type Harness } from '../helpers/server-harness.js';

// ---- log capture ----------------------------------------------------------------

interface LogLine {
  level: number;
  msg?: string;
  err?: { message?: string; type?: string };
}

function captureLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

const NOISE = /Premature close|invalid type|payload/i;

function noNoise(t: Test, lines: LogLine[]): void {
  const bad = lines.filter((l) => l.level >= 50 || NOISE.test(`${l.msg ?? ''} ${l.err?.message ?? ''}`));
  t.same(bad, [], 'no error-level or stream-error log lines');
}

// ---- helpers -----------------------------------------------------------------

function post(h: Harness, path: string, body: unknown, onResponse?: () => void): ClientRequest {
  const req = request(new URL(path, h.url), { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
    onResponse?.();
    res.resume();
    res.on('error', () => undefined);
  });
  req.on('error', () => { /* destroyed on purpose */ });
  req.end(JSON.stringify(body));
  return req;
}

async function postJson(h: Harness, path: string, body: unknown): Promise<{ status: number; headers: Headers; body: { error?: { message: string; type: string; param: string | null; code: string } } & Record<string, unknown> }> {
  const res = await fetch(new URL(path, h.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as never };
}

async function metric(h: Harness, line: RegExp): Promise<number> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const hit = text.split('\n').find((l) => line.test(l));
  return hit === undefined ? NaN : Number(hit.split(' ').at(-1));
}

const aborts = (h: Harness, reason: string): Promise<number> => metric(h, new RegExp(`^hipserve_request_aborts_total\\{.*reason="${reason}"`));

/** Polls the abort counter (at most ~10 s) until it exceeds `before`; returns the last value seen. */
async function abortsAbove(h: Harness, reason: string, before: number): Promise<number> {
  let seen = await aborts(h, reason);
  for (let i = 0; i < 2000 && seen <= before; i++) {
    await new Promise((r) => setTimeout(r, 5));
    seen = await aborts(h, reason);
  }
  return seen;
}


const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A prompt the encoder sends to its worker thread (>= 8192 chars). */
const LONG = Array.from({ length: 1200 }, (_, i) => `word${i % 97}`).join(' ');

// ---- 1. disconnect while the prompt is tokenized ----------------------------------

const bodies: { name: string; path: string; body: object }[] = [
  { name: 'completions', path: '/v1/completions', body: { prompt: LONG, max_tokens: 3000 } },
  { name: 'completions, stream', path: '/v1/completions', body: { prompt: LONG, max_tokens: 3000, stream: true } },
  { name: 'chat', path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: LONG }], max_tokens: 3000 } },
  { name: 'chat, stream', path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: LONG }], max_tokens: 3000, stream: true } },
  { name: 'responses', path: '/v1/responses', body: { input: LONG, max_output_tokens: 3000 } },
  { name: 'responses, stream', path: '/v1/responses', body: { input: LONG, max_output_tokens: 3000, stream: true } },
  { name: 'messages', path: '/v1/messages', body: { messages: [{ role: 'user', content: LONG }], max_tokens: 3000 } },
  { name: 'messages, stream', path: '/v1/messages', body: { messages: [{ role: 'user', content: LONG }], max_tokens: 3000, stream: true } },
  { name: 'embeddings', path: '/v1/embeddings', body: { input: LONG } },
  { name: 'llama.cpp embedding', path: '/embedding', body: { content: LONG } },
  // One distinct text each (score and rerank embed a repeated text once): one encode to hold.
  { name: 'score', path: '/v1/score', body: { text_1: LONG, text_2: [LONG, LONG] } },
  { name: 'rerank', path: '/rerank', body: { query: LONG, documents: [LONG] } },
];

t.test('a client gone while its long prompt is tokenized: nothing reaches the engine, nothing is held, nothing logged', async (t) => {
  t.ok(LONG.length > 8192, 'the prompt goes to the tokenize worker');
  const { logger, lines } = captureLogger();
  const h = await startServer({ offloadTokenizer: true, engine: { maxModelLen: 100_000, stepMs: 5 }, logger });
  t.teardown(() => h.close());
  const baseline = h.engine.stats().kvBlocksUsed;
  for (const c of bodies) {
    await t.test(c.name, async (t) => {
      const gate = gateEncoder(h.ctx);
      const started = h.engine.started.length;
      const offloaded = h.ctx.encoder.offloaded();
      const before = await aborts(h, 'client_disconnect');
      let responded = false;
      const req = post(h, c.path, c.body, () => { responded = true; });
      await waitFor(() => gate.entered() === 1, 'the prompt to be in the tokenizer');
      req.destroy();
      // The server sees the disconnect (its abort is counted) while the prompt is still held.
      const seen = await abortsAbove(h, 'client_disconnect', before);
      t.equal(seen, before + 1, 'the disconnect is counted once, during tokenizing');
      t.equal(gate.exited(), 0, 'tokenizing had not finished then');
      gate.release();
      // The first encode also starts the worker (tsx compiles its modules,
      // the tokenizer loads): seconds on a loaded machine, so a generous bound.
      await waitFor(() => gate.exited() === 1, 'tokenizing to finish', 120_000);
      await turn();
      await turn();
      t.equal(h.ctx.encoder.offloaded(), offloaded + 1, 'it was encoded in the worker');
      t.equal(h.engine.started.length, started, 'nothing was submitted to the engine');
      const s = h.engine.stats();
      t.same([s.numRunning, s.numWaiting, s.kvBlocksUsed], [0, 0, baseline], 'nothing running or waiting; KV blocks at baseline');
      t.notOk(responded, 'no response was written');
      // And the server still serves.
      const ok = await postJson(h, '/v1/completions', { prompt: 'still here?', max_tokens: 2 });
      t.equal(ok.status, 200);
      t.equal(h.engine.started.length, started + 1, 'only the next request reached the engine');
      t.equal(await aborts(h, 'client_disconnect'), before + 1);
    });
  }
  noNoise(t, lines);
});

t.test('a timeout while the prompt is tokenized is a 408 and nothing is submitted', async (t) => {
  const { logger, lines } = captureLogger();
  const h = await startServer({ offloadTokenizer: true, config: { requestTimeoutS: 0.05 }, engine: { maxModelLen: 100_000 }, logger });
  t.teardown(() => h.close());
  for (const stream of [false, true]) {
    const gate = gateEncoder(h.ctx);
    const started = h.engine.started.length;
    const before = await aborts(h, 'timeout');
    const res = postJson(h, '/v1/completions', { prompt: LONG, max_tokens: 5, stream });
    await waitFor(() => gate.entered() === 1, 'the prompt to be in the tokenizer');
    const seen = await abortsAbove(h, 'timeout', before);
    t.equal(seen, before + 1, 'the timeout fired while tokenizing');
    gate.release();
    const r = await res;
    t.equal(r.status, 408, `stream=${stream}: 408 before any SSE`);
    t.equal(r.body.error?.code, 'request_timeout');
    t.equal(h.engine.started.length, started, 'nothing was submitted');
  }
  noNoise(t, lines);
});

// ---- 2. max_tokens defaults ----------------------------------------------------------

t.test('/v1/completions defaults max_tokens to 16; chat runs to the context', async (t) => {
  const h = await startServer({ engine: { maxModelLen: 64 } });
  t.teardown(() => h.close());
  const c = await postJson(h, '/v1/completions', { prompt: 'no max tokens here', temperature: 0 });
  t.equal(c.status, 200);
  t.match(c.body, { choices: [{ finish_reason: 'length' }], usage: { completion_tokens: 16 } }, '16 tokens, finish_reason length');
  const s = await fetch(`${h.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'no max tokens here', temperature: 0, stream: true, stream_options: { include_usage: true } }) });
  t.match(await s.text(), /"usage":\{"prompt_tokens":\d+,"completion_tokens":16,/, 'streamed: 16 tokens too');
  // Near the end of the context the default is capped by the room left.
  const ids = new Array<number>(60).fill(h.engine.tokenizer.encode(' hello', false)[0]);
  const near = await postJson(h, '/v1/completions', { prompt: ids });
  t.equal(near.status, 200);
  t.match(near.body, { usage: { prompt_tokens: 60, completion_tokens: 4 } }, 'min(16, room left)');
  const explicit = await postJson(h, '/v1/completions', { prompt: 'x', max_tokens: 40, temperature: 0 });
  t.match(explicit.body, { usage: { completion_tokens: 40 } }, 'an explicit max_tokens is used as given');
  const chat = await postJson(h, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], temperature: 0 });
  t.equal(chat.status, 200);
  const usage = chat.body.usage as { prompt_tokens: number; completion_tokens: number };
  t.equal(usage.prompt_tokens + usage.completion_tokens, 64, 'chat without max_tokens: up to the context, as vLLM');
});

// ---- 5, 6, 8. 400s naming the field --------------------------------------------------

const user = [{ role: 'user', content: 'hi' }];

const rejected: { name: string; path?: string; body: object; param: string; message: RegExp }[] = [
  { name: 'logit_bias key not a token id', body: { prompt: 'x', logit_bias: { abc: 1 } }, param: 'logit_bias', message: /logit_bias keys must be token ids in \[0, \d+\), got "abc"/ },
  { name: 'logit_bias key past the vocabulary', body: { prompt: 'x', logit_bias: { 99999999: 1 } }, param: 'logit_bias', message: /token ids in \[0, \d+\), got "99999999"/ },
  { name: 'logit_bias negative key', body: { prompt: 'x', logit_bias: { '-1': 1 } }, param: 'logit_bias', message: /got "-1"/ },
  { name: 'logit_bias value 150 (chat)', path: '/v1/chat/completions', body: { messages: user, logit_bias: { 5: 150 } }, param: 'logit_bias', message: /values must be numbers in \[-100, 100\], got 150 for token 5/ },
  { name: 'logit_bias one token twice', body: { prompt: 'x', logit_bias: { 5: 1, '05': 2 } }, param: 'logit_bias', message: /names token 5 twice/ },
  { name: 'logit_bias too large', path: '/v1/chat/completions', body: { messages: user, logit_bias: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [String(i), 1])) }, param: 'logit_bias', message: /at most 1024 tokens, got 1025/ },
  { name: 'logit_bias value not a number', body: { prompt: 'x', logit_bias: { 5: 'up' } }, param: 'logit_bias', message: /logit_bias/ },
  { name: 'response_format xml', path: '/v1/chat/completions', body: { messages: user, response_format: { type: 'xml' } }, param: 'response_format', message: /response_format "xml" is not supported by this server; only "text", "json_object", "json_schema" or "structural_tag" is/ },
  { name: 'response_format json_schema without a schema (completions)', body: { prompt: 'x', response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, param: 'response_format', message: /json_schema.schema must be a JSON Schema/ },
  // The fake engine here has no guided(): real guided decoding is test/e2e/guided.test.ts.
  { name: 'response_format json_object, an engine that cannot guide', path: '/v1/chat/completions', body: { messages: user, response_format: { type: 'json_object' } }, param: 'response_format', message: /response_format is not supported by this engine/ },
  // Tool calling itself ("auto" included) runs in test/e2e/tools.test.ts and tool-auto.test.ts; what the fake engine here shows is the 400s before it.
  { name: 'tool_choice auto without tools', path: '/v1/chat/completions', body: { messages: user, tool_choice: 'auto' }, param: 'tool_choice', message: /tool_choice needs tools/ },
  { name: 'tool_choice object naming no tool', path: '/v1/chat/completions', body: { messages: user, tools: [{ type: 'function', function: { name: 'g' } }], tool_choice: { type: 'function', function: { name: 'f' } } }, param: 'tool_choice', message: /not one of the tools/ },
  {
    name: 'tool_calls on a user message',
    path: '/v1/chat/completions',
    body: { messages: [{ role: 'user', content: 'x', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }] },
    param: 'messages.0.tool_calls',
    message: /only assistant messages carry tool calls/,
  },
  { name: 'tool message without tool_call_id', path: '/v1/chat/completions', body: { messages: [...user, { role: 'tool', content: '42' }] }, param: 'messages.1.tool_call_id', message: /required for a tool message/ },
  { name: 'tools on completions', body: { prompt: 'x', tools: [{ type: 'function', function: { name: 'f' } }] }, param: 'tools', message: /on \/v1\/completions is not supported by this server/ },
  // Served where the vocabulary has FIM tokens (the fake engine's Qwen3 one does): test/e2e/fim.test.ts.
  { name: 'suffix with a prompt of token ids', body: { prompt: [1, 2], suffix: '\n  return x' }, param: 'suffix', message: /suffix needs the prompt as text/ },
  { name: 'suffix on chat', path: '/v1/chat/completions', body: { messages: user, suffix: 'x' }, param: 'suffix', message: /suffix \(fill-in-the-middle\) on chat is not supported by this server; only \/v1\/completions is/ },
  { name: 'best_of above 1', body: { prompt: 'x', best_of: 3, n: 1 }, param: 'best_of', message: /best_of 3 is not supported by this server; only best_of 1/ },
  { name: 'beam search on chat', path: '/v1/chat/completions', body: { messages: user, use_beam_search: true }, param: 'use_beam_search', message: /Beam search/ },
  { name: 'bad_words not a list of strings', body: { prompt: 'x', bad_words: [5] }, param: 'bad_words', message: /bad_words/ },
  { name: 'a chat_template in the request', path: '/v1/chat/completions', body: { messages: user, chat_template: '{{ messages }}' }, param: 'chat_template', message: /--chat-template/ },
  { name: 'echo on chat', path: '/v1/chat/completions', body: { messages: user, echo: true }, param: 'echo', message: /only \/v1\/completions is/ },
  { name: 'functions (the old API)', path: '/v1/chat/completions', body: { messages: user, functions: [{ name: 'f' }] }, param: 'functions', message: /Function calling \(functions\) is not supported/ },
  { name: 'echo with logprobs 21', body: { prompt: 'x', echo: true, logprobs: 21 }, param: 'logprobs', message: /logprobs of 21, which is not in \[0, 20\]/ },
  { name: 'max_tokens 0 without echo', body: { prompt: 'x', max_tokens: 0 }, param: 'max_tokens', message: /at least 1/ },
  { name: 'unknown role', path: '/v1/chat/completions', body: { messages: [{ role: 'bot', content: 'hi' }] }, param: 'messages.0.role', message: /must be one of system, developer, user, assistant, tool/ },
  { name: 'missing role', path: '/v1/chat/completions', body: { messages: [...user, { content: 'hi' }] }, param: 'messages.1.role', message: /messages\.1\.role/ },
  { name: 'user message without content', path: '/v1/chat/completions', body: { messages: [{ role: 'user' }] }, param: 'messages.0.content', message: /content is required/ },
  { name: 'system message with null content', path: '/v1/chat/completions', body: { messages: [{ role: 'system', content: null }, ...user] }, param: 'messages.0.content', message: /content is required/ },
  { name: 'top_logprobs 21', path: '/v1/chat/completions', body: { messages: user, logprobs: true, top_logprobs: 21 }, param: 'top_logprobs', message: /top_logprobs/ },
  { name: 'n 17 (completions)', body: { prompt: 'x', n: 17 }, param: 'n', message: /n must be at most 16, got 17/ },
  { name: 'n 17 (chat)', path: '/v1/chat/completions', body: { messages: user, n: 17 }, param: 'n', message: /n must be at most 16, got 17/ },
];

t.test('unsupported fields and malformed messages are 400s naming the field; the server keeps serving', async (t) => {
  const { logger, lines } = captureLogger();
  const h = await startServer({ logger });
  t.teardown(() => h.close());
  for (const c of rejected) {
    const r = await postJson(h, c.path ?? '/v1/completions', { max_tokens: 2, ...c.body });
    t.equal(r.status, 400, `${c.name}: 400`);
    t.match(r.body.error, { type: 'invalid_request_error', code: 'invalid_request', param: c.param }, `${c.name}: param ${c.param}`);
    t.match(r.body.error?.message ?? '', c.message, `${c.name}: ${r.body.error?.message}`);
    t.notMatch(r.body.error?.message ?? '', /not a function/, 'no template engine error');
  }
  t.equal(h.engine.started.length, 0, 'none reached the engine');
  // Neutral values of the same fields are accepted.
  const neutral = [
    { path: '/v1/completions', body: { prompt: 'x', max_tokens: 2, logit_bias: {}, response_format: { type: 'text' } } },
    { path: '/v1/completions', body: { prompt: 'x', max_tokens: 2, suffix: '', best_of: 1, use_beam_search: false } },
    { path: '/v1/completions', body: { prompt: 'x', max_tokens: 2, suffix: null, best_of: null } },
    { path: '/v1/chat/completions', body: { messages: user, max_tokens: 2, logit_bias: null, tools: [], tool_choice: 'none', response_format: { type: 'text' } } },
    { path: '/v1/chat/completions', body: { messages: [{ role: 'developer', content: 'be brief' }, ...user, { role: 'assistant', content: null, tool_calls: [] }, ...user], max_tokens: 2 } },
    { path: '/v1/chat/completions', body: { messages: user, max_tokens: 2, logprobs: true, top_logprobs: 20, n: 16 } },
  ];
  for (const c of neutral) {
    const r = await postJson(h, c.path, c.body);
    t.equal(r.status, 200, `accepted: ${JSON.stringify(c.body).slice(0, 120)}`);
  }
  // A developer message reaches the template as the system message (templates drop roles they do not know).
  const tok = async (messages: object[]): Promise<number[]> => ((await postJson(h, '/tokenize', { messages })).body as unknown as { tokens: number[] }).tokens;
  const dev = await tok([{ role: 'developer', content: 'be brief' }, ...user]);
  t.same(dev, await tok([{ role: 'system', content: 'be brief' }, ...user]), 'developer renders as system');
  t.ok(dev.length > (await tok(user)).length, 'and is not dropped');
  noNoise(t, lines);
});

// ---- the abort armed on a reply whose client is already gone ----------------------------

t.test('requestAbort fires at once for a response already closed, or whose socket is destroyed', (t) => {
  const cases: { name: string; raw: object }[] = [
    { name: 'response destroyed', raw: { destroyed: true, writableFinished: false, socket: null } },
    { name: 'socket destroyed, close not yet emitted', raw: { destroyed: false, writableFinished: false, socket: { destroyed: true } } },
  ];
  for (const c of cases) {
    const raw = Object.assign(new EventEmitter(), c.raw);
    const why: string[] = [];
    const a = requestAbort({ raw } as unknown as FastifyReply, 0, (r) => why.push(r));
    t.equal(a.signal.aborted, true, `${c.name}: aborted on arming`);
    t.equal(a.reason(), 'client_disconnect');
    raw.emit('close');
    t.same(why, ['client_disconnect'], 'reported once');
    a.dispose();
  }
  const live = Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false, socket: { destroyed: false } });
  const a = requestAbort({ raw: live } as unknown as FastifyReply, 0, () => undefined);
  t.equal(a.signal.aborted, false, 'a live client is not aborted');
  live.emit('close');
  t.equal(a.reason(), 'client_disconnect', 'until its response closes');
  a.dispose();
  t.end();
});
