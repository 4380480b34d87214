// Each bad request gets the right status and an OpenAI error body from the
// table, and the server keeps serving: a good request follows every bad one.

import { request } from 'node:http';
import t from 'tap';
import { ERRORS } from '../../src/server/errors.js';
import { startServer, type Harness } from '../helpers/server-harness.js';

let h: Harness;
t.before(async () => {
  h = await startServer({ config: { maxBodySize: 4096 }, engine: { maxModelLen: 64 } });
});
t.teardown(() => h.close());

/** Raw bytes, so malformed JSON and invalid UTF-8 reach the server as sent. */
function send(path: string, body: Buffer | string, contentType = 'application/json'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const url = new URL(path, h.url);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), headers: res.headers }); });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (v: unknown): string => JSON.stringify(v);
const long = 'word '.repeat(200);

const cases: { name: string; path?: string; body: Buffer | string; status: number; code: keyof typeof ERRORS; param?: string | null; contentType?: string }[] = [
  { name: 'malformed JSON', body: '{"prompt": "x", ', status: 400, code: 'invalid_json' },
  { name: 'empty body', body: '', status: 400, code: 'invalid_json' },
  { name: 'wrong type: max_tokens string', body: json({ prompt: 'x', max_tokens: 'ten' }), status: 400, code: 'invalid_request', param: 'max_tokens' },
  { name: 'wrong type: temperature string', body: json({ prompt: 'x', temperature: 'hot' }), status: 400, code: 'invalid_request', param: 'temperature' },
  { name: 'wrong type: prompt object', body: json({ prompt: { a: 1 } }), status: 400, code: 'invalid_request', param: 'prompt' },
  { name: 'missing prompt', body: json({ max_tokens: 3 }), status: 400, code: 'invalid_request', param: 'prompt' },
  { name: 'negative max_tokens', body: json({ prompt: 'x', max_tokens: -5 }), status: 400, code: 'invalid_request', param: 'max_tokens' },
  { name: 'zero max_tokens', body: json({ prompt: 'x', max_tokens: 0 }), status: 400, code: 'invalid_request', param: 'max_tokens' },
  { name: 'huge max_tokens', body: json({ prompt: 'x', max_tokens: 1e9 }), status: 400, code: 'context_length_exceeded', param: 'max_tokens' },
  { name: 'empty prompt', body: json({ prompt: '' }), status: 400, code: 'invalid_request', param: 'prompt' },
  { name: 'empty prompt list', body: json({ prompt: [] }), status: 400, code: 'invalid_request', param: 'prompt' },
  { name: 'token id out of vocabulary', body: json({ prompt: [1, 99999999] }), status: 400, code: 'invalid_request', param: 'prompt' },
  { name: 'unknown model', body: json({ model: 'gpt-4', prompt: 'x' }), status: 404, code: 'model_not_found', param: 'model' },
  { name: 'prompt over max-model-len', body: json({ prompt: long, max_tokens: 1 }), status: 400, code: 'context_length_exceeded', param: 'max_tokens' },
  { name: 'prompt over max-model-len without max_tokens', body: json({ prompt: long }), status: 400, code: 'context_length_exceeded', param: 'prompt' },
  { name: 'invalid UTF-8', body: Buffer.concat([Buffer.from('{"prompt": "'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]), status: 400, code: 'invalid_utf8' },
  { name: 'oversized body', body: json({ prompt: 'x'.repeat(5000) }), status: 413, code: 'body_too_large' },
  { name: 'top_p out of range', body: json({ prompt: 'x', top_p: 1.5 }), status: 400, code: 'invalid_request', param: 'top_p' },
  { name: 'n = 0', body: json({ prompt: 'x', n: 0 }), status: 400, code: 'invalid_request', param: 'n' },
  { name: 'logprobs too many', body: json({ prompt: 'x', logprobs: 50 }), status: 400, code: 'invalid_request', param: 'logprobs' },
  { name: 'form body', body: 'prompt=x', contentType: 'application/x-www-form-urlencoded', status: 415, code: 'unsupported_media_type' },
  { name: 'chat: no messages', path: '/v1/chat/completions', body: json({ messages: [] }), status: 400, code: 'invalid_request', param: 'messages' },
  { name: 'chat: message without role', path: '/v1/chat/completions', body: json({ messages: [{ content: 'hi' }] }), status: 400, code: 'invalid_request', param: 'messages.0.role' },
  { name: 'logit_bias value out of range', body: json({ prompt: 'x', logit_bias: { 5: 101 } }), status: 400, code: 'invalid_request', param: 'logit_bias' },
  { name: 'chat: top_logprobs without logprobs', path: '/v1/chat/completions', body: json({ messages: [{ role: 'user', content: 'hi' }], top_logprobs: 2 }), status: 400, code: 'invalid_request', param: 'top_logprobs' },
  { name: 'unknown route', path: '/v1/audio/speech', body: json({ input: 'x' }), status: 404, code: 'route_not_found' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const res = await send(c.path ?? '/v1/completions', c.body, c.contentType);
    t.equal(res.status, c.status, res.body);
    const body = JSON.parse(res.body) as { error: { message: string; type: string; param: string | null; code: string } };
    t.equal(body.error.code, c.code);
    t.equal(body.error.type, ERRORS[c.code].type);
    t.type(body.error.message, 'string');
    t.notMatch(body.error.message, /\n\s+at /, 'no stack trace');
    if (c.param !== undefined) t.equal(body.error.param, c.param);
    const ok = await send('/v1/completions', json({ prompt: 'still alive?', max_tokens: 2 }));
    t.equal(ok.status, 200, 'the next request is served');
  });
}

t.test('unknown fields are ignored; an empty logit_bias is accepted, and so is one in range', async (t) => {
  const res = await send('/v1/completions', json({ prompt: 'x', max_tokens: 2, frobnicate: true, logit_bias: {} }));
  t.equal(res.status, 200);
  const biased = await send('/v1/completions', json({ prompt: 'x', max_tokens: 2, logit_bias: { 5: 100, 7: -100, 9: 0.5 } }));
  t.equal(biased.status, 200, biased.body);
  t.same(h.engine.startedParams.at(-1)?.logitBias, { 5: 100, 7: -100, 9: 0.5 }, 'the bias reaches the engine as sent');
  t.equal(h.engine.startedParams.at(-2)?.logitBias, null, 'an empty one is none');
});

t.test('x-request-id is honoured and echoed; one is generated otherwise', async (t) => {
  const a = await fetch(`${h.url}/v1/models`, { headers: { 'x-request-id': 'abc-123' } });
  t.equal(a.headers.get('x-request-id'), 'abc-123');
  const b = await fetch(`${h.url}/v1/models`);
  t.match(b.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});
