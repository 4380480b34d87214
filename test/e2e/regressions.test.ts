// Regressions of bugs found end to end (all three fixed): engine-only
// parameter checks answered 500; cumulative counters had no series before
// their first increment; vllm:prompt_tokens_total missed prefix-cache hits.
import t from 'tap';
import { noEos, postJson, scrape, startLive, value, type Live } from './helpers.js';

let live: Live;
t.before(async () => {
  live = await startLive({ arch: 'llama', engine: { name: 'repro' } });
});
t.teardown(() => live.close());

t.test('a parameter only the engine rejects is 400, not 500', async (t) => {
  // The server's schema is looser than engine/params.ts (n <= 16,
  // temperature <= 100, 16 stop strings): the EngineError must map to 400.
  const cases: [string, object][] = [
    ['n = 17', { n: 17 }],
    ['temperature = 101', { temperature: 101 }],
    ['17 stop strings', { stop: Array.from({ length: 17 }, (_, i) => `s${i}`) }],
  ];
  for (const [what, extra] of cases) {
    const r = await postJson(live.url, '/v1/completions', { model: live.model, prompt: 'x', max_tokens: 2, ...extra });
    t.equal(r.status, 400, `${what}: 400`);
    t.match(r.body, { error: { type: 'invalid_request_error' } }, `${what}: invalid_request_error body`);
  }
  // Streaming: generate() validates before the status line goes out.
  const s = await postJson(live.url, '/v1/completions', { model: live.model, prompt: 'x', max_tokens: 2, n: 17, stream: true });
  t.equal(s.status, 400, 'streaming n = 17: 400 before the stream starts');
});

t.test('vllm:prefix_cache_hits_total and vllm:num_preemptions_total are exposed at 0', async (t) => {
  // Was: the counter was only inc()ed when the engine's value grew, so at 0
  // the exposition had no sample with model_name and dashboards saw no data.
  await live.client.completions.create({ model: live.model, prompt: 'warm up', max_tokens: 2, ...noEos });
  const s = await scrape(live.url);
  t.equal(value(s, 'vllm:prefix_cache_hits_total', { model_name: live.model }), 0, 'prefix_cache_hits_total{model_name} = 0 is exposed');
  t.equal(value(s, 'vllm:num_preemptions_total', { model_name: live.model }), 0, 'num_preemptions_total{model_name} = 0 is exposed');
});

t.test('vllm:prompt_tokens_total counts whole prompts, prefix-cache hits included', async (t) => {
  // Was: the engine summed scheduled prefill chunks, so a prompt served from
  // the prefix cache added only its uncached tail, and a preempted request
  // added its prompt again on recompute.
  // vLLM v1 adds the full prompt length once per request (IterationStats,
  // when the request's first output arrives), so the counter equals the sum of
  // usage.prompt_tokens.
  const prompt = Array.from({ length: 70 }, (_, i) => 1000 + i); // 4 full blocks of 16
  const before = await scrape(live.url);
  let usagePrompt = 0;
  for (let i = 0; i < 2; i++) {
    const r = await live.client.completions.create({ model: live.model, prompt, max_tokens: 2, temperature: 0, ...noEos });
    usagePrompt += r.usage?.prompt_tokens ?? 0;
  }
  const after = await scrape(live.url);
  const lbl = { model_name: live.model };
  t.ok(value(after, 'vllm:prefix_cache_hits_total', lbl) > 0, 'the second request hit the prefix cache');
  t.equal(value(after, 'vllm:prompt_tokens_total', lbl) - value(before, 'vllm:prompt_tokens_total', lbl), usagePrompt, `prompt_tokens_total grew by the usage sum (${usagePrompt})`);
});
