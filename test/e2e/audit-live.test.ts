// Audit fixes against the real engine (native CPU forward, fixture model):
//  - a client gone while its long prompt is tokenized in the worker: nothing
//    runs or waits and the KV blocks are back to their baseline;
//  - --max-num-queued-requests is enforced at submission, in sequences
//    (prompts x n): a request that raced past the early check gets 429 with
//    Retry-After, a multi-prompt request is refused whole, and the server
//    keeps serving;
//  - streamed /v1/completions logprobs equal the non-streamed ones when a
//    stop string holds text back.

import { request, type ClientRequest } from 'node:http';
import { pino } from 'pino';
import t from 'tap';
import { defaultConfig, type ServeConfig } from '../../src/config/options.js';
import { assembleEngine, type EngineParts } from '../../src/engine/index.js';
import type { LlmEngine } from '../../src/engine/llm-engine.js';
import { loadTokenizer } from '../../src/models/tokenizer.js';
import * as native from '../../src/native.js';
import { buildServer, type App } from '../../src/server/app.js';
import type { ServerContext } from '../../src/server/context.js';
import { gateEncoder } from '../helpers/gate-encoder.js';
import { fixtureModel } from '../fixtures/models.js';
import { isOpenAIError, pollMetrics, postJson, quiet, rawPost, scrape, value, type Sample } from './helpers.js';

interface Server {
  url: string;
  model: string;
  engine: LlmEngine;
  app: App;
  ctx: ServerContext;
  close(): Promise<void>;
}

/** Like startLive, but hands back the server context (to gate its encoder) and can offload long prompts to the tokenize worker. */
async function start(o: { engine?: Partial<Omit<EngineParts, 'loaded' | 'tokenizer' | 'logger'>>; config?: Partial<ServeConfig>; offload?: boolean } = {}): Promise<Server> {
  const path = await fixtureModel('qwen3', 'safetensors');
  const loaded = await native.loadModel(path, { device: 'cpu' });
  if (!loaded.ok) throw loaded.error;
  const tokenizer = await loadTokenizer(path);
  const maxModelLen = o.engine?.maxModelLen ?? 256;
  const engine = assembleEngine({
    numBlocks: 64, blockSize: 16, maxModelLen, maxNumSeqs: 4, maxNumBatchedTokens: 256, enablePrefixCaching: true, maxNumQueuedRequests: 64, seed: 0, isDemo: false,
    ...o.engine,
    name: 'fixture', loaded: loaded.value, tokenizer, logger: quiet,
  });
  const config: ServeConfig = { ...defaultConfig(), model: path, servedModelName: ['fixture'], maxModelLen, maxNumQueuedRequests: o.engine?.maxNumQueuedRequests ?? 64, ...o.config };
  const tokenizerSource = o.offload === true ? { module: new URL('../../src/models/tokenizer.ts', import.meta.url).href, arg: path } : null;
  let built: { app: App; ctx: ServerContext };
  try {
    built = await buildServer({ engine, config, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), tokenizerSource });
  } catch (err) {
    await engine.close();
    throw err;
  }
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 });
  return { url, model: 'fixture', engine, ...built, close: async () => { await built.app.close(); await engine.close(); } };
}


async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 4000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

const m = (model: string) => ({
  running: (s: Sample[]) => value(s, 'vllm:num_requests_running', { model_name: model }),
  waiting: (s: Sample[]) => value(s, 'vllm:num_requests_waiting', { model_name: model }),
  used: (s: Sample[]) => value(s, 'hipserve_kv_blocks', { model_name: model, state: 'used' }),
  aborts: (s: Sample[]) => value(s, 'hipserve_request_aborts_total', { model_name: model, reason: 'client_disconnect' }),
  rejected: (s: Sample[]) => value(s, 'hipserve_requests_rejected_total', { model_name: model }),
});

function post(url: string, path: string, body: unknown): ClientRequest {
  const req = request(new URL(path, url), { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => { res.resume(); });
  req.on('error', () => undefined);
  req.end(JSON.stringify(body));
  return req;
}

t.test('a client gone while its long prompt is tokenized (worker): nothing runs or waits, KV blocks at baseline', async (t) => {
  const s = await start({ engine: { maxModelLen: 8192, numBlocks: 600, maxNumBatchedTokens: 1024 }, offload: true });
  t.teardown(() => s.close());
  const mm = m(s.model);
  const long = Array.from({ length: 1500 }, (_, i) => `token${i % 50}`).join(' ');
  t.ok(long.length > 8192, `${long.length} chars: encoded in the worker`);
  const base = await scrape(s.url);
  for (const [path, body] of [
    ['/v1/completions', { model: s.model, prompt: long, max_tokens: 4000, ignore_eos: true, stream: true }],
    ['/v1/chat/completions', { model: s.model, messages: [{ role: 'user', content: long }], max_tokens: 4000, ignore_eos: true }],
  ] as const) {
    const gate = gateEncoder(s.ctx);
    const before = await scrape(s.url);
    const req = post(s.url, path, body);
    await until(() => gate.entered() === 1, 'the prompt to be in the tokenizer');
    req.destroy();
    const seen = await pollMetrics(s.url, (x) => mm.aborts(x) > mm.aborts(before));
    t.equal(mm.aborts(seen), mm.aborts(before) + 1, `${path}: the disconnect is seen while tokenizing`);
    gate.release();
    await until(() => gate.exited() === 1, 'tokenizing to finish');
    await turn();
    await turn();
    gate.restore();
    const st = s.engine.stats();
    t.same([st.numRunning, st.numWaiting, st.kvBlocksUsed], [0, 0, 0], `${path}: nothing submitted, running or waiting; no KV block used`);
    const after = await scrape(s.url);
    t.same([mm.running(after), mm.waiting(after), mm.used(after)], [0, 0, mm.used(base)], '/metrics agrees');
  }
  t.ok(s.ctx.encoder.offloaded() >= 2, 'the prompts went to the worker');
  const ok = await postJson(s.url, '/v1/completions', { model: s.model, prompt: 'and now?', max_tokens: 3, ignore_eos: true });
  t.equal(ok.status, 200, 'the server still serves');
});

t.test('--max-num-queued-requests is enforced at submission, in sequences (prompts x n)', async (t) => {
  const s = await start({ engine: { maxModelLen: 1024, numBlocks: 128, maxNumSeqs: 1, maxNumQueuedRequests: 2 } });
  t.teardown(() => s.close());
  const mm = m(s.model);
  const small = (extra: object): object => ({ model: s.model, prompt: 'queued', max_tokens: 2, ignore_eos: true, ...extra });

  // Two requests pass the early check together (nothing waits yet), then
  // both submit: 2 + 1 sequences > 2, so the later one is refused by the engine.
  for (const [a, b, seqsA] of [[{ n: 2 }, {}, 2], [{ prompt: ['p1', 'p2'] }, { prompt: 'p3' }, 2]] as const) {
    await t.test(`${JSON.stringify(a)} and ${JSON.stringify(b)} at once`, async (t) => {
      // One request runs (max-num-seqs 1); everything else waits.
      const held = rawPost(s.url, '/v1/completions', { model: s.model, prompt: 'held', max_tokens: 900, ignore_eos: true, temperature: 0, stream: true });
      await pollMetrics(s.url, (x) => mm.running(x) === 1);
      const gate = gateEncoder(s.ctx);
      const before = await scrape(s.url);
      const ra = postJson(s.url, '/v1/completions', small(a)).then((r) => ({ r, which: 'a' as const }));
      const rb = postJson(s.url, '/v1/completions', small(b)).then((r) => ({ r, which: 'b' as const }));
      await until(() => gate.entered() === ('prompt' in a ? 3 : 2), 'both requests to be tokenizing');
      gate.release();
      // The admitted one waits behind the held request; the other is answered now.
      const first = await Promise.race([ra, rb]);
      gate.restore();
      t.equal(first.r.status, 429, 'one is refused at submission');
      t.ok(Number(first.r.headers.get('retry-after')) >= 1, 'with Retry-After');
      t.ok(isOpenAIError(first.r.body), 'an OpenAI error body');
      t.match(first.r.body, { error: { type: 'rate_limit_error', code: 'queue_full' } });
      const admittedSeqs = first.which === 'a' ? 1 : seqsA;
      const q = await pollMetrics(s.url, (x) => mm.waiting(x) === admittedSeqs);
      t.equal(mm.waiting(q), admittedSeqs, 'only the admitted request waits (a refused multi-prompt request leaves no sibling behind)');
      t.equal(mm.rejected(q), mm.rejected(before) + 1, 'hipserve_requests_rejected_total counts it');
      // The early check counts sequences too: nothing more fits now.
      const early = await postJson(s.url, '/v1/completions', small(admittedSeqs === 1 ? { n: 2 } : {}));
      t.equal(early.status, 429, 'the early check refuses what does not fit');
      held.req.destroy();
      const admitted = await (first.which === 'a' ? rb : ra);
      t.equal(admitted.r.status, 200, 'the admitted request completes');
      const idle = await pollMetrics(s.url, (x) => mm.running(x) === 0 && mm.waiting(x) === 0);
      t.equal(mm.running(idle) + mm.waiting(idle), 0, 'idle again');
    });
  }

  // A request that alone needs more sequences than may ever wait is a 400, not a 429 to retry forever.
  const tooMany = await postJson(s.url, '/v1/completions', small({ n: 3 }));
  t.equal(tooMany.status, 400);
  t.match(tooMany.body, { error: { code: 'invalid_request', param: 'n' } });
  const tooManyPrompts = await postJson(s.url, '/v1/completions', small({ prompt: ['a', 'b', 'c'] }));
  t.equal(tooManyPrompts.status, 400);
  t.match(tooManyPrompts.body, { error: { code: 'invalid_request', param: 'prompt' } });
  const idle = await pollMetrics(s.url, (x) => mm.running(x) === 0 && mm.waiting(x) === 0 && mm.used(x) === 0);
  t.same([mm.running(idle), mm.waiting(idle), mm.used(idle)], [0, 0, 0], 'idle, no KV block used');
  const next = await postJson(s.url, '/v1/completions', small({ n: 2 }));
  t.equal(next.status, 200, 'the server keeps serving');
});

interface StreamedLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
}

async function streamCompletion(url: string, body: object): Promise<{ chunks: { text: string; logprobs: StreamedLogprobs | null; finish_reason: string | null }[] }> {
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  const text = await res.text();
  const chunks = [];
  for (const ev of text.split('\n\n')) {
    if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
    const c = JSON.parse(ev.slice(6)) as { choices: { text: string; logprobs: StreamedLogprobs | null; finish_reason: string | null }[] };
    chunks.push(...c.choices);
  }
  return { chunks };
}

t.test('streamed completions logprobs equal the non-streamed ones when a stop string holds text back', async (t) => {
  const s = await start();
  t.teardown(() => s.close());
  const base = { model: s.model, prompt: 'Once upon a time', max_tokens: 12, temperature: 0, ignore_eos: true, logprobs: 2 };
  // Greedy text, one chunk per token: pick a token whose whole text starts
  // the stop string, which then never completes.
  const plain = await streamCompletion(s.url, base);
  const k = plain.chunks.findIndex((c, i) => i >= 2 && c.text.length > 0 && (c.logprobs?.tokens.length ?? 0) === 1);
  t.ok(k >= 2, 'a token to hold back');
  const stop = `${plain.chunks[k].text}\u2603\u2603never`;
  const ns = await postJson(s.url, '/v1/completions', { ...base, stop });
  t.equal(ns.status, 200);
  const nsChoice = (ns.body as { choices: { text: string; logprobs: StreamedLogprobs; finish_reason: string }[] }).choices[0];
  t.equal(nsChoice.logprobs.tokens.length, 12, 'the stop string never matched: 12 tokens');
  const streamed = await streamCompletion(s.url, { ...base, stop });
  const heldBack = streamed.chunks.filter((c) => c.text === '' && c.finish_reason === null && (c.logprobs?.tokens.length ?? 0) > 0);
  t.ok(heldBack.length >= 1, `a delta with held-back text was sent with its logprobs (${heldBack.length})`);
  const cat = (f: (lp: StreamedLogprobs) => unknown[]): unknown[] => streamed.chunks.flatMap((c) => (c.logprobs === null ? [] : f(c.logprobs)));
  t.same(cat((lp) => lp.tokens), nsChoice.logprobs.tokens, 'streamed tokens equal the non-streamed ones');
  t.same(cat((lp) => lp.token_logprobs), nsChoice.logprobs.token_logprobs, 'and their logprobs');
  t.same(cat((lp) => lp.top_logprobs), nsChoice.logprobs.top_logprobs, 'and the top logprobs');
  t.equal(streamed.chunks.map((c) => c.text).join(''), nsChoice.text, 'and the text');
});
