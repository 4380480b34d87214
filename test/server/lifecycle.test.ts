// Admission (429 + Retry-After while admitted requests complete), readiness
// versus liveness, and graceful shutdown.

import t from 'tap';
import { shutdown } from '../../src/server/shutdown.js';
import { startServer, waitFor } from '../helpers/server-harness.js';

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Connection-level refusals: nothing listens any more, or the socket was closed before an answer. */
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET']);

/**
 * How a request was turned away: '503' (answered so: by the app's shutdown
 * check or by Fastify's own closing path) or 'refused' (at the connection);
 * anything else is described as it happened.
 */
async function turnedAway(res: Promise<Response>): Promise<string> {
  try {
    const r = await res;
    await r.arrayBuffer();
    return r.status === 503 ? '503' : `answered ${r.status}`;
  } catch (err) {
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    return typeof code === 'string' && REFUSED.has(code) ? 'refused' : `failed: ${String(err)} (${String(code)})`;
  }
}

t.test('overload: beyond the queue bound -> 429 with Retry-After; admitted ones complete', async (t) => {
  const h = await startServer({ engine: { maxNumQueuedRequests: 3 } });
  t.teardown(() => h.close());
  h.engine.pause();
  const admitted = [0, 1, 2].map((i) => post(h.url, { prompt: `q${i}`, max_tokens: 3 }));
  await waitFor(() => h.engine.stats().numWaiting === 3, 'three queued requests');
  const tokenizedBefore = h.engine.started.length;
  const rejected = await Promise.all([0, 1, 2, 3].map((i) => post(h.url, { prompt: `r${i}`, max_tokens: 3 })));
  for (const r of rejected) {
    t.equal(r.status, 429);
    t.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After in seconds');
    const body = (await r.json()) as { error: { code: string; type: string } };
    t.equal(body.error.code, 'queue_full');
    t.equal(body.error.type, 'rate_limit_error');
  }
  t.equal(h.engine.started.length, tokenizedBefore, 'rejected requests never reached the engine');
  h.engine.resume();
  for (const r of await Promise.all(admitted)) t.equal(r.status, 200);
  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  t.match(metrics, /^hipserve_requests_rejected_total\{model_name="fake-model"\} 4$/m);
});

t.test('/health is ready only while the engine steps; /health/live always answers', async (t) => {
  const h = await startServer({ stallThresholdMs: 0 });
  t.teardown(() => h.close());
  t.equal((await fetch(`${h.url}/health`)).status, 200, 'idle engine is ready');
  h.engine.pause();
  const pending = post(h.url, { prompt: 'stuck', max_tokens: 2 });
  await waitFor(() => h.engine.heartbeat().pending, 'a pending request');
  // Paused: no step completes, so the time since the last one only grows past the threshold.
  await waitFor(() => performance.now() - h.engine.heartbeat().lastStepAt > h.ctx.stallThresholdMs, 'the stall threshold to pass');
  const stalled = await fetch(`${h.url}/health`);
  t.equal(stalled.status, 503);
  t.equal(((await stalled.json()) as { error: { code: string } }).error.code, 'not_ready');
  t.equal((await fetch(`${h.url}/health/live`)).status, 200, 'liveness is not readiness');
  h.engine.resume();
  t.equal((await pending).status, 200);
  t.equal((await fetch(`${h.url}/health`)).status, 200, 'ready again');
});

t.test('graceful shutdown lets a running stream finish and refuses new work', async (t) => {
  const h = await startServer({ engine: { stepMs: 5 } });
  t.teardown(() => h.close()); // closing again after shutdown is harmless
  const stream = await post(h.url, { prompt: 'drain me', max_tokens: 40, stream: true });
  t.equal(stream.status, 200);
  const text = stream.text();
  await waitFor(() => h.engine.stats().numRunning === 1, 'the stream to run');
  const done = shutdown({ app: h.app, ctx: h.ctx }, h.engine, 10_000);
  const late = await turnedAway(post(h.url, { prompt: 'too late', max_tokens: 1 }));
  t.ok(late === 'refused' || late === '503', `a new request is refused at the connection or answered 503: ${late}`);
  const body = await text;
  t.match(body, /"finish_reason":"length"/, 'the running stream finished normally');
  t.ok(body.endsWith('data: [DONE]\n\n'));
  await done;
  t.equal(h.engine.aborted.length, 0);
});

t.test('shutdown aborts what does not finish within the timeout', async (t) => {
  const h = await startServer({ engine: { stepMs: 5, maxModelLen: 100_000 } });
  t.teardown(() => h.close()); // closing again after shutdown is harmless
  const stream = await post(h.url, { prompt: 'too long', max_tokens: 50_000, stream: true });
  const text = stream.text();
  await waitFor(() => h.engine.stats().numRunning === 1, 'the stream to run');
  await shutdown({ app: h.app, ctx: h.ctx }, h.engine, 50);
  const body = await text;
  t.match(body, /"finish_reason":"abort"/);
  t.ok(body.endsWith('data: [DONE]\n\n'));
  t.equal(h.engine.stats().kvBlocksUsed, 0);
});

t.test('the engine refusing at generate() (a race past canAdmit) still maps to 429', async (t) => {
  const h = await startServer({ engine: { maxNumQueuedRequests: 1 } });
  t.teardown(() => h.close());
  h.engine.pause();
  const first = post(h.url, { prompt: 'one', max_tokens: 2 });
  await waitFor(() => h.engine.stats().numWaiting === 1, 'one queued request');
  h.engine.canAdmit = () => true; // the race: admission said yes, the queue filled meanwhile
  for (const stream of [false, true]) {
    const res = await post(h.url, { prompt: 'two', max_tokens: 2, stream });
    t.equal(res.status, 429, `stream=${stream}: status before any SSE`);
    t.equal(res.headers.get('retry-after'), '1');
  }
  h.engine.resume();
  t.equal((await first).status, 200);
});
