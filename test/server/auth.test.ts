// API keys: 401 without a matching key on every route except the health
// checks; /metrics open unless --metrics-require-auth; several keys work.

import t from 'tap';
import { bearerToken, keyMatcher } from '../../src/server/auth.js';
import { startServer } from '../helpers/server-harness.js';

t.test('key matcher', (t) => {
  const m = keyMatcher(['alpha', 'beta-longer-key']);
  t.ok(m('alpha'));
  t.ok(m('beta-longer-key'));
  t.notOk(m('alph'), 'a prefix is not a match');
  t.notOk(m('alphaa'));
  t.notOk(m(''));
  t.equal(bearerToken('Bearer  abc '), 'abc');
  t.equal(bearerToken('bearer abc'), 'abc');
  t.equal(bearerToken('Basic abc'), null);
  t.equal(bearerToken(undefined), null);
  t.end();
});

t.test('routes behind the key', async (t) => {
  const h = await startServer({ config: { apiKeys: ['k1', 'k2'] } });
  t.teardown(() => h.close());
  const get = (path: string, key?: string): Promise<Response> => fetch(`${h.url}${path}`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
  for (const path of ['/v1/models', '/version', '/v1/nothing-here']) {
    const res = await get(path);
    t.equal(res.status, 401, `${path} without key`);
    const body = (await res.json()) as { error: { code: string; type: string } };
    t.equal(body.error.code, 'invalid_api_key');
    t.equal(body.error.type, 'authentication_error');
    t.equal((await get(path, 'nope')).status, 401, `${path} with a wrong key`);
  }
  t.equal((await get('/v1/models', 'k1')).status, 200);
  t.equal((await get('/v1/models', 'k2')).status, 200, 'second key');
  const xKey = (key: string): Promise<Response> => fetch(`${h.url}/v1/models`, { headers: { 'x-api-key': key } });
  t.equal((await xKey('k1')).status, 200, 'x-api-key (as Anthropic\'s SDK sends it)');
  t.equal((await xKey('nope')).status, 401, 'a wrong x-api-key');
  t.equal((await get('/health')).status, 200, 'readiness without key');
  t.equal((await get('/health/live')).status, 200, 'liveness without key');
  t.equal((await get('/ping')).status, 200, 'vLLM\'s /ping without key');
  t.equal((await fetch(`${h.url}/ping`, { method: 'POST' })).status, 200, 'POST /ping too');
  t.equal((await get('/metrics')).status, 200, 'metrics open by default');
  for (const [path, body] of [['/v1/completions', { prompt: 'x', max_tokens: 1 }], ['/apply-template', { messages: [{ role: 'user', content: 'x' }] }], ['/v1/embeddings', { input: 'x' }], ['/embedding', { content: 'x' }],
    ['/score', { text_1: 'x', text_2: 'y' }], ['/v1/score', { text_1: 'x', text_2: 'y' }],
    ['/rerank', { query: 'x', documents: ['y'] }], ['/v1/rerank', { query: 'x', documents: ['y'] }], ['/v2/rerank', { query: 'x', documents: ['y'] }]] as const) {
    const post = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    t.equal(post.status, 401, `POST ${path} without key`);
  }
  t.equal(h.engine.started.length, 0, 'nothing reached the engine');
});

t.test('--metrics-require-auth', async (t) => {
  const h = await startServer({ config: { apiKeys: ['k1'], metricsRequireAuth: true } });
  t.teardown(() => h.close());
  t.equal((await fetch(`${h.url}/metrics`)).status, 401);
  t.equal((await fetch(`${h.url}/metrics`, { headers: { authorization: 'Bearer k1' } })).status, 200);
});

t.test('CORS off by default, on with --allowed-origins', async (t) => {
  const off = await startServer();
  t.teardown(() => off.close());
  const a = await fetch(`${off.url}/v1/models`, { headers: { origin: 'https://app.example' } });
  t.equal(a.headers.get('access-control-allow-origin'), null);
  const on = await startServer({ config: { allowedOrigins: ['https://app.example'] } });
  t.teardown(() => on.close());
  const b = await fetch(`${on.url}/v1/models`, { headers: { origin: 'https://app.example' } });
  t.equal(b.headers.get('access-control-allow-origin'), 'https://app.example');
  const c = await fetch(`${on.url}/v1/models`, { headers: { origin: 'https://evil.example' } });
  t.equal(c.headers.get('access-control-allow-origin'), null);
});
