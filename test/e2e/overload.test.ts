// Overload against the real engine: max-num-seqs 1, a waiting queue of 2.
// Requests beyond what fits get 429 with Retry-After and an OpenAI error
// body (RateLimitError in the client); every admitted one completes.

import { RateLimitError } from 'openai';
import t from 'tap';
import { isOpenAIError, noEos, poll, pollMetrics, postJson, rawPost, scrape, startLive, value, type Live, type Sample } from './helpers.js';

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

t.test('a burst against one free place in the queue: exactly one admitted, the rest 429, the admitted one completes', async (t) => {
  const N = 8;
  const MAX = 48;
  const before = await scrape(live.url);
  // One running and one waiting, each far from done: one place left in the
  // queue of two, and none frees while they are held (max-num-seqs 1).
  const held = [0, 1].map((i) =>
    rawPost(live.url, '/v1/completions', { model: live.model, prompt: `held ${i}`, max_tokens: 900, ignore_eos: true, temperature: 0 }),
  );
  t.teardown(() => { for (const h of held) h.req.destroy(); });
  const s = await pollMetrics(live.url, (x) => running(x) === 1 && waiting(x) === 1);
  t.equal(running(s), 1, 'one running');
  t.equal(waiting(s), 1, 'one waiting: one place left');

  const settled: { i: number; status: number }[] = [];
  const burst = Array.from({ length: N }, (_, i) =>
    postJson(live.url, '/v1/completions', { model: live.model, prompt: `burst request ${i}`, max_tokens: MAX, ignore_eos: true, temperature: 0 }).then((r) => {
      settled.push({ i, status: r.status });
      return r;
    }),
  );
  // All but one are answered while the held requests still hold the queue.
  t.ok(await poll(() => settled.length >= N - 1), `${N - 1} answered while the queue is held: ${JSON.stringify(settled)}`);
  t.same(settled.map((x) => x.status), Array<number>(N - 1).fill(429), `${N - 1} refused with 429`);
  t.equal(waiting(await scrape(live.url)), 2, 'the one admitted waits in the last place');

  for (const h of held) h.req.destroy();
  const results = await Promise.all(burst);
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 429);
  t.equal(ok.length, 1, `exactly one admitted: ${results.map((r) => r.status).join(',')}`);
  t.equal(refused.length, N - 1, `exactly ${N - 1} refused`);
  for (const r of refused) {
    t.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After on every 429');
    t.ok(isOpenAIError(r.body), 'OpenAI error body');
    t.match(r.body, { error: { type: 'rate_limit_error', code: 'queue_full' } });
  }
  for (const r of ok) {
    t.match(r.body, { object: 'text_completion', choices: [{ finish_reason: 'length' }], usage: { completion_tokens: MAX } }, 'the admitted request ran to the end');
  }
  const after = await pollMetrics(live.url, (x) => running(x) === 0 && waiting(x) === 0);
  t.equal(rejected(after) - rejected(before), N - 1, 'the rejected counter counts the 429s');
  const lengthDone = (x: Sample[]): number => value(x, 'vllm:request_success_total', { model_name: live.model, finished_reason: 'length' });
  t.equal(lengthDone(after) - lengthDone(before), 1, 'the admitted request finished by length (the held ones were aborted)');

  const next = await live.client.completions.create({ model: live.model, prompt: 'calm again', max_tokens: 2, ...noEos });
  t.equal(next.usage?.completion_tokens, 2, 'served after the burst');
});
