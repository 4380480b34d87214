// A client that goes away mid-stream or mid-response (or while queued)
// aborts its request in the real engine: /metrics shows nothing running,
// no KV block used, the abort counted; the server then serves the next
// request. Also /health and /health/live while generation runs.

import t, { type Test } from 'tap';
import { noEos, poll, pollMetrics, rawPost, scrape, startLive, value, type Live, type Sample } from './helpers.js';

let live: Live;
const MAX_MODEL_LEN = 2048;

t.before(async () => {
  // One sequence at a time, so a second request really waits in the queue.
  live = await startLive({ arch: 'llama', engine: { maxModelLen: MAX_MODEL_LEN, numBlocks: 160, maxNumSeqs: 1, maxNumBatchedTokens: 512 } });
});
t.teardown(() => live.close());

/** A request that would run for thousands of steps unless aborted. */
const long = (extra: object = {}): object => ({ model: live.model, prompt: 'Once upon a time', max_tokens: MAX_MODEL_LEN - 64, ignore_eos: true, temperature: 0, ...extra });

const m = {
  running: (s: Sample[]) => value(s, 'vllm:num_requests_running', { model_name: live.model }),
  waiting: (s: Sample[]) => value(s, 'vllm:num_requests_waiting', { model_name: live.model }),
  used: (s: Sample[]) => value(s, 'hipserve_kv_blocks', { model_name: live.model, state: 'used' }),
  aborts: (s: Sample[]) => value(s, 'hipserve_request_aborts_total', { model_name: live.model, reason: 'client_disconnect' }),
  abortedFinish: (s: Sample[]) => value(s, 'vllm:request_success_total', { model_name: live.model, finished_reason: 'abort' }),
};

async function expectIdleAfterAbort(t: Test, before: Sample[]): Promise<void> {
  const s = await pollMetrics(live.url, (x) => m.running(x) === 0 && m.waiting(x) === 0 && m.used(x) === 0 && m.aborts(x) > m.aborts(before));
  t.equal(m.running(s), 0, 'vllm:num_requests_running back to 0');
  t.equal(m.waiting(s), 0, 'vllm:num_requests_waiting is 0');
  t.equal(m.used(s), 0, 'hipserve_kv_blocks{state="used"} back to 0');
  t.equal(m.aborts(s), m.aborts(before) + 1, 'hipserve_request_aborts_total{reason="client_disconnect"} counted once');
  t.equal(m.abortedFinish(s), m.abortedFinish(before) + 1, 'vllm:request_success_total{finished_reason="abort"} counted once');
  // And the server still serves.
  const r = await live.client.completions.create({ model: live.model, prompt: 'next', max_tokens: 3, temperature: 0, ...noEos });
  t.equal(r.choices[0].finish_reason, 'length', 'the next request completes');
  t.equal(r.usage?.completion_tokens, 3);
}

t.test('disconnect mid-stream (completions)', async (t) => {
  const before = await scrape(live.url);
  let chunks = 0;
  const p = rawPost(live.url, '/v1/completions', long({ stream: true }), (_c, req) => {
    if (++chunks === 2) req.destroy();
  });
  const res = await p.response;
  t.equal(res.statusCode, 200);
  t.ok(await poll(() => chunks >= 2), 'two chunks arrived before the disconnect');
  t.notMatch(p.received(), /\[DONE\]/, 'the stream had not finished');
  await expectIdleAfterAbort(t, before);
});

t.test('disconnect mid-stream (chat), /health answers 200 while generating', async (t) => {
  const before = await scrape(live.url);
  let chunks = 0;
  const p = rawPost(live.url, '/v1/chat/completions', { ...long({ stream: true }), prompt: undefined, messages: [{ role: 'user', content: 'tell me a story' }] }, () => { chunks++; });
  t.ok(await poll(() => chunks >= 2), 'the stream is flowing');
  // The role chunk goes out before the engine's first step; the loop may
  // still be finishing the previous test's aborted step, so wait for the
  // request to be scheduled rather than assume it.
  const during = await pollMetrics(live.url, (x) => m.running(x) === 1 && m.used(x) > 0);
  t.equal(m.running(during), 1, 'one request running');
  t.ok(m.used(during) > 0, `it holds KV blocks (${m.used(during)})`);
  const health = await fetch(`${live.url}/health`);
  t.equal(health.status, 200, '/health is 200 while generating');
  t.match(await health.json(), { status: 'ready', model: live.model });
  t.equal((await fetch(`${live.url}/health/live`)).status, 200, '/health/live is 200');
  p.req.destroy();
  await expectIdleAfterAbort(t, before);
});

t.test('disconnect mid-stream (responses)', async (t) => {
  const before = await scrape(live.url);
  let events = 0;
  const body = { model: live.model, input: 'tell me a story', max_output_tokens: MAX_MODEL_LEN - 64, ignore_eos: true, temperature: 0, stream: true };
  const p = rawPost(live.url, '/v1/responses', body, (c, req) => {
    events += c.split('event: response.output_text.delta').length - 1;
    if (events >= 2) req.destroy();
  });
  t.ok(await poll(() => events >= 2), 'text deltas arrived before the disconnect');
  t.notMatch(p.received(), /response\.(completed|incomplete)/, 'the response had not finished');
  await expectIdleAfterAbort(t, before);
});

t.test('disconnect mid-stream (messages)', async (t) => {
  const before = await scrape(live.url);
  let deltas = 0;
  const body = { model: live.model, messages: [{ role: 'user', content: 'tell me a story' }], max_tokens: MAX_MODEL_LEN - 64, ignore_eos: true, temperature: 0, stream: true };
  const p = rawPost(live.url, '/v1/messages', body, (c, req) => {
    deltas += c.split('event: content_block_delta').length - 1;
    if (deltas >= 2) req.destroy();
  });
  t.ok(await poll(() => deltas >= 2), 'text deltas arrived before the disconnect');
  t.notMatch(p.received(), /message_stop/, 'the message had not finished');
  await expectIdleAfterAbort(t, before);
});

t.test('disconnect mid-non-stream', async (t) => {
  const before = await scrape(live.url);
  const p = rawPost(live.url, '/v1/completions', long());
  // Poll until the engine runs it (its blocks are in use), then hang up.
  const s = await pollMetrics(live.url, (x) => m.running(x) === 1 && m.used(x) > 0);
  t.equal(m.running(s), 1, 'the request is running');
  let responded = false;
  void p.response.then(() => { responded = true; });
  p.req.destroy();
  await expectIdleAfterAbort(t, before);
  t.notOk(responded, 'no response was sent for the abandoned request');
});

t.test('disconnect while queued behind a running request', async (t) => {
  const before = await scrape(live.url);
  let chunks = 0;
  const runner = rawPost(live.url, '/v1/completions', long({ stream: true }), () => { chunks++; });
  t.ok(await poll(() => chunks >= 1), 'the first request streams');
  const queued = rawPost(live.url, '/v1/completions', long());
  const s = await pollMetrics(live.url, (x) => m.waiting(x) === 1);
  t.equal(m.waiting(s), 1, 'the second request waits (max-num-seqs 1)');
  queued.req.destroy();
  const s2 = await pollMetrics(live.url, (x) => m.waiting(x) === 0 && m.aborts(x) > m.aborts(before));
  t.equal(m.waiting(s2), 0, 'the queued request left the queue');
  t.equal(m.running(s2), 1, 'the running one is untouched');
  const chunksNow = chunks;
  t.ok(await poll(() => chunks > chunksNow), 'and keeps streaming');
  runner.req.destroy();
  const s3 = await pollMetrics(live.url, (x) => m.running(x) === 0 && m.used(x) === 0 && m.aborts(x) >= m.aborts(before) + 2);
  t.equal(m.aborts(s3), m.aborts(before) + 2, 'both aborts counted');
  t.equal(m.used(s3), 0, 'no KV block used');
  t.equal(m.running(s3), 0);
});

t.test('/health and /health/live when idle', async (t) => {
  const h = await fetch(`${live.url}/health`);
  t.equal(h.status, 200);
  t.match(await h.json(), { status: 'ready' });
  const l = await fetch(`${live.url}/health/live`);
  t.equal(l.status, 200);
  t.match(await l.json(), { status: 'live' });
});
