// A client that goes away aborts its request, streaming or not, queued or
// running: the engine sees the abort, its KV blocks go back to the pool
// (read through /metrics), and the abort is counted.

import { request, type ClientRequest } from 'node:http';
import t, { type Test } from 'tap';
import { startServer, waitFor, type Harness } from '../helpers/server-harness.js';

let h: Harness;
t.before(async () => {
  h = await startServer({ engine: { maxModelLen: 4096, stepMs: 5 } });
});
t.teardown(() => h.close());

function post(path: string, body: unknown, onResponseData?: (chunk: string, req: ClientRequest) => void): ClientRequest {
  const req = request(new URL(path, h.url), { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => onResponseData?.(c, req));
  });
  req.on('error', () => { /* we destroy it on purpose */ });
  req.end(JSON.stringify(body));
  return req;
}

async function metric(line: RegExp): Promise<number> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const hit = text.split('\n').find((l) => line.test(l));
  return hit === undefined ? NaN : Number(hit.split(' ').at(-1));
}

async function expectFreed(t: Test, before: number, reason: string): Promise<void> {
  await waitFor(() => h.engine.aborted.length > before, 'the engine to see the abort');
  await waitFor(() => h.engine.stats().kvBlocksUsed === 0 && h.engine.stats().numRunning === 0 && h.engine.stats().numWaiting === 0, 'blocks to be freed');
  t.equal(await metric(/^hipserve_kv_blocks\{.*state="used"/), 0, 'no KV blocks used (metrics)');
  t.ok((await metric(new RegExp(`^hipserve_request_aborts_total\\{.*reason="${reason}"`))) >= 1, 'abort counted');
  t.ok((await metric(/^vllm:request_success_total\{.*finished_reason="abort"/)) >= 1);
}

t.test('disconnect mid-stream', async (t) => {
  const before = h.engine.aborted.length;
  let chunks = 0;
  post('/v1/completions', { prompt: 'stream me', max_tokens: 3000, stream: true }, (_c, req) => {
    if (++chunks === 3) req.destroy();
  });
  await waitFor(() => chunks >= 3, 'a few chunks');
  await expectFreed(t, before, 'client_disconnect');
  t.equal(h.engine.aborted.at(-1), h.engine.started.at(-1), 'the aborted request is the one that streamed');
});

t.test('disconnect mid-non-stream (running)', async (t) => {
  const before = h.engine.aborted.length;
  const req = post('/v1/chat/completions', { messages: [{ role: 'user', content: 'long one' }], max_tokens: 3000 });
  await waitFor(() => h.engine.stats().numRunning === 1 && h.engine.stats().kvBlocksUsed > 0, 'the request to run');
  req.destroy();
  await expectFreed(t, before, 'client_disconnect');
});

t.test('disconnect while queued', async (t) => {
  const before = h.engine.aborted.length;
  h.engine.pause();
  const req = post('/v1/completions', { prompt: 'queued', max_tokens: 5 });
  await waitFor(() => h.engine.stats().numWaiting === 1, 'the request to queue');
  req.destroy();
  await waitFor(() => h.engine.aborted.length > before, 'the engine to see the abort');
  t.equal(h.engine.stats().numWaiting, 0);
  h.engine.resume();
  await expectFreed(t, before, 'client_disconnect');
});

t.test('a request past --request-timeout is aborted with 408 (non-stream) or an error event (stream)', async (t) => {
  const slow = await startServer({ config: { requestTimeoutS: 0.2 }, engine: { maxModelLen: 4096, stepMs: 20 } });
  t.teardown(() => slow.close());
  const res = await fetch(`${slow.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 3000 }) });
  t.equal(res.status, 408);
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'request_timeout');
  const s = await fetch(`${slow.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 3000, stream: true }) });
  const text = await s.text();
  const events = text.split('\n\n').filter(Boolean);
  t.equal(events.at(-1), 'data: [DONE]');
  t.match(events.at(-2), /^data: \{"error":\{.*"code":"request_timeout"/);
  // The Responses API: an error event (OpenAI's), and no [DONE].
  const post = (body: object) => fetch(`${slow.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const whole = await post({ input: 'x', max_output_tokens: 3000 });
  t.equal(whole.status, 408);
  const rs = (await (await post({ input: 'x', max_output_tokens: 3000, stream: true })).text()).split('\n\n').filter(Boolean);
  t.match(rs[0], /^event: response\.created\n/);
  t.match(rs.at(-1), /^event: error\ndata: \{"type":"error","sequence_number":\d+,"code":"request_timeout","message":"The request took longer/);
  t.notOk(rs.some((e) => e.includes('[DONE]') || e.includes('response.completed')), 'no [DONE], no response.completed');
  // The Messages API: Anthropic's error event.
  const ms = (await (await fetch(`${slow.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 3000, stream: true }) })).text()).split('\n\n').filter(Boolean);
  t.match(ms[0], /^event: message_start\n/);
  t.match(ms.at(-1), /^event: error\ndata: \{"type":"error","error":\{"type":"timeout_error","message":"The request took longer/);
  await waitFor(() => slow.engine.stats().kvBlocksUsed === 0, 'blocks freed after timeouts');
});
