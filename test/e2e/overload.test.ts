// Overload against the real engine: max-num-seqs 1, a waiting queue of 2.
// Requests beyond what fits get 429 with Retry-After and an OpenAI error
// body (RateLimitError in the client); every admitted one completes.

import { RateLimitError } from 'openai';
import t from 'tap';
import { isOpenAIError, noEos, pollMetrics, postJson, rawPost, scrape, startLive, value, type Live, type Sample } from './helpers.js';

let live: Live;

t.before(async () => {
  live = await startLive({ arch: 'qwen2', engine: { maxModelLen: 1024, numBlocks: 80, maxNumSeqs: 1, maxNumQueuedRequests: 2 } });
});
t.teardown(() => live.close());

const running = (s: Sample[]) => value(s, 'vllm:num_requests_running', { model_name: live.model });
const waiting = (s: Sample[]) => value(s, 'vllm:num_requests_waiting', { model_name: live.model });
const rejected = (s: Sample[]) => value(s, 'hipserve_requests_rejected_total', { model_name: live.model });

t.test('a full queue answers 429 (RateLimitError) with Retry-After; the held requests are unaffected', async (t) => {
  // One running and two waiting, each far from done: the queue is full.
  const held = [0, 1, 2].map((i) =>
    rawPost(live.url, '/v1/completions', { model: live.model, prompt: `held ${i}`, max_tokens: 900, ignore_eos: true, temperature: 0 }),
  );
  const s = await pollMetrics(live.url, (x) => running(x) === 1 && waiting(x) === 2);
  t.equal(running(s), 1, 'one running');
  t.equal(waiting(s), 2, 'two waiting: the queue is full');

  const err = await live.client.completions.create({ model: live.model, prompt: 'one more', max_tokens: 2 }).then(() => null, (e: unknown) => e);
  t.ok(err instanceof RateLimitError, `RateLimitError, got ${String(err)}`);
  if (err instanceof RateLimitError) {
    t.equal(err.status, 429);
    t.equal(err.code, 'queue_full');
    t.ok(Number(err.headers.get('retry-after')) >= 1, `Retry-After: ${err.headers.get('retry-after')}`);
  }
  const raw = await postJson(live.url, '/v1/chat/completions', { model: live.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  t.equal(raw.status, 429, 'chat is refused too');
  t.ok(Number(raw.headers.get('retry-after')) >= 1, 'with Retry-After');
  t.ok(isOpenAIError(raw.body), 'an OpenAI error body');
  t.match(raw.body, { error: { type: 'rate_limit_error', code: 'queue_full' } });
  t.equal(rejected(await scrape(live.url)), rejected(s) + 2, 'hipserve_requests_rejected_total counts both');

  for (const h of held) h.req.destroy();
  const idle = await pollMetrics(live.url, (x) => running(x) === 0 && waiting(x) === 0);
  t.equal(running(idle) + waiting(idle), 0, 'idle again');
});

t.test('a burst: some get 429, every admitted request completes with 200', async (t) => {
  const N = 8;
  const MAX = 48;
  const before = await scrape(live.url);
  const results = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      postJson(live.url, '/v1/completions', { model: live.model, prompt: `burst request ${i}`, max_tokens: MAX, ignore_eos: true, temperature: 0 }),
    ),
  );
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 429);
  t.equal(ok.length + refused.length, N, `only 200s and 429s: ${results.map((r) => r.status).join(',')}`);
  t.ok(refused.length >= 1, `${refused.length} refused`);
  t.ok(ok.length >= 3, `${ok.length} admitted (one running + two queued at least)`);
  for (const r of refused) {
    t.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After on every 429');
    t.ok(isOpenAIError(r.body), 'OpenAI error body');
  }
  for (const r of ok) {
    t.match(r.body, { object: 'text_completion', choices: [{ finish_reason: 'length' }], usage: { completion_tokens: MAX } }, 'an admitted request ran to the end');
  }
  const after = await scrape(live.url);
  t.equal(rejected(after) - rejected(before), refused.length, 'the rejected counter matches the 429s');
  t.equal(value(after, 'vllm:request_success_total', { model_name: live.model, finished_reason: 'length' }) - value(before, 'vllm:request_success_total', { model_name: live.model, finished_reason: 'length' }), ok.length, 'every admitted request finished by length');

  const next = await live.client.completions.create({ model: live.model, prompt: 'calm again', max_tokens: 2, ...noEos });
  t.equal(next.usage?.completion_tokens, 2, 'served after the burst');
});
