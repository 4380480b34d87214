// /metrics after real traffic through the real engine: every vLLM name of
// issue #4 §5 is there with its model_name label, the token counters equal
// the usage the clients were told, and promtool accepts the exposition.

import { spawnSync } from 'node:child_process';
import t from 'tap';
import { noEos, parseMetrics, scrape, startLive, value, type Live } from './helpers.js';

let live: Live;

t.before(async () => {
  live = await startLive({ arch: 'llama', engine: { name: 'e2e-metrics' } });
});
t.teardown(() => live.close());

interface Usage {
  prompt: number;
  completion: number;
}

/** Real traffic of every kind (n = 1, distinct prompts: no prefix shared beyond a block). */
async function traffic(): Promise<Usage> {
  const sum: Usage = { prompt: 0, completion: 0 };
  const add = (u: { prompt_tokens: number; completion_tokens: number } | null | undefined): void => {
    if (u == null) throw new Error('no usage');
    sum.prompt += u.prompt_tokens;
    sum.completion += u.completion_tokens;
  };
  const { client, model } = live;
  add((await client.completions.create({ model, prompt: 'alpha beta gamma', max_tokens: 7, temperature: 0, ...noEos })).usage);
  add((await client.completions.create({ model, prompt: 'delta epsilon', max_tokens: 5, temperature: 0.8, seed: 1, ...noEos })).usage);
  add((await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'zeta eta theta' }], max_completion_tokens: 6, temperature: 0, ...noEos })).usage);
  const s1 = await client.completions.create({ model, prompt: 'iota kappa lambda mu', max_tokens: 8, temperature: 0, ...noEos, stream: true, stream_options: { include_usage: true } });
  for await (const c of s1) if (c.choices.length === 0) add(c.usage);
  const s2 = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'nu xi omicron' }], max_completion_tokens: 4, temperature: 0, ...noEos, stream: true, stream_options: { include_usage: true } });
  for await (const c of s2) if (c.choices.length === 0) add(c.usage);
  // Concurrent requests share steps.
  const batch = await Promise.all(
    ['pi rho', 'sigma tau upsilon', 'phi chi psi omega'].map((prompt, i) => client.completions.create({ model, prompt, max_tokens: 5 + i, temperature: 0, ...noEos })),
  );
  for (const r of batch) add(r.usage);
  return sum;
}

// The exposition names: counters carry _total as vLLM's Python client shows them.
const COUNTERS = ['vllm:prefix_cache_queries', 'vllm:prefix_cache_hits', 'vllm:num_preemptions', 'vllm:prompt_tokens', 'vllm:generation_tokens', 'vllm:request_success'];
const GAUGES = ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc'];
const HISTOGRAMS = [
  'vllm:time_to_first_token_seconds',
  'vllm:inter_token_latency_seconds',
  'vllm:e2e_request_latency_seconds',
  'vllm:request_queue_time_seconds',
  'vllm:request_prompt_tokens',
  'vllm:request_generation_tokens',
  'vllm:iteration_tokens_total',
];

t.test('after real traffic: names, labels, token counters equal the usage sums, promtool', async (t) => {
  const before = await scrape(live.url);
  const usage = await traffic();
  const res = await fetch(`${live.url}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain/);
  const text = await res.text();
  const s = parseMetrics(text);
  const lbl = { model_name: live.model };

  for (const name of COUNTERS) {
    t.match(text, new RegExp(`^# TYPE ${name}_total counter$`, 'm'), `${name}_total is a counter`);
    // Every counter has its series, even one still at 0 (regressions.test.ts).
    t.ok(s.some((x) => x.name === `${name}_total` && x.labels.model_name === live.model), `${name}_total has model_name`);
  }
  for (const name of GAUGES) {
    t.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'), `${name} is a gauge`);
    t.ok(s.some((x) => x.name === name && x.labels.model_name === live.model), `${name} has model_name`);
  }
  for (const name of HISTOGRAMS) {
    t.match(text, new RegExp(`^# TYPE ${name} histogram$`, 'm'), `${name} is a histogram`);
    t.ok(value(s, `${name}_count`, lbl) > 0, `${name} observed after traffic`);
  }
  const itlBuckets = s.filter((x) => x.name === 'vllm:inter_token_latency_seconds_bucket' && x.labels.le !== '+Inf').map((x) => Number(x.labels.le));
  t.equal(Math.min(...itlBuckets), 0.001, `inter-token latency buckets start at 1 ms: ${itlBuckets.slice(0, 3).join(', ')}`);
  t.ok(s.some((x) => x.name === 'hipserve_kv_blocks' && x.labels.state === 'used'), 'hipserve_kv_blocks{state="used"}');
  t.ok(s.some((x) => x.name === 'hipserve_kv_blocks' && x.labels.state === 'free'), 'hipserve_kv_blocks{state="free"}');
  t.ok(s.some((x) => x.name === 'process_cpu_seconds_total'), 'default process metrics');
  t.ok(value(s, 'vllm:prefix_cache_queries_total', lbl) > 0, 'prefix cache queried');

  // A series absent before the traffic (a histogram never observed) counts as 0.
  const or0 = (x: number): number => (Number.isNaN(x) ? 0 : x);
  const d = (name: string, labels: Record<string, string> = lbl): number => or0(value(s, name, labels)) - or0(value(before, name, labels));
  t.equal(d('vllm:prompt_tokens_total'), usage.prompt, `vllm:prompt_tokens_total grew by the sum of usage.prompt_tokens (${usage.prompt})`);
  t.equal(d('vllm:generation_tokens_total'), usage.completion, `vllm:generation_tokens_total grew by the sum of usage.completion_tokens (${usage.completion})`);
  t.equal(d('vllm:request_prompt_tokens_sum'), usage.prompt, 'per-request prompt histogram sums to the same');
  t.equal(d('vllm:request_generation_tokens_sum'), usage.completion, 'per-request generation histogram sums to the same');
  t.equal(d('vllm:request_success_total', { ...lbl, finished_reason: 'length' }), 8, 'eight requests finished by length');
  t.equal(d('vllm:e2e_request_latency_seconds_count'), 8, 'eight end-to-end latencies');
  t.equal(value(s, 'vllm:num_requests_running', lbl), 0, 'idle: nothing running');
  t.equal(value(s, 'hipserve_kv_blocks', { ...lbl, state: 'used' }), 0, 'idle: no KV block used');

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error) {
    t.fail(`promtool not runnable (${promtool.error.message}): apt-get install -y prometheus`);
    return;
  }
  const problems = `${promtool.stdout}${promtool.stderr}`.split('\n').filter((l) => l.trim() !== '');
  // vllm:iteration_tokens_total is a histogram under vLLM's own name (dashboards
  // query it), so it earns promtool's "_total on a non-counter" lint there too.
  const other = problems.filter((l) => !/metric names should not contain ':'/.test(l) && !/^vllm:iteration_tokens_total non-counter metrics should not have "_total" suffix$/.test(l));
  t.same(other, [], 'promtool reports nothing but the ":"-in-name rule (and vLLM\'s own iteration_tokens_total name)');
});
