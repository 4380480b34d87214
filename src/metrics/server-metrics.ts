// Prometheus metrics under vLLM's names (label model_name) so existing
// dashboards work. Counters carry `_total` in their names as vLLM's Python
// client exposes them. Fed by the engine's events (per step, per finished
// request) and by engine.stats() read at scrape time.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine, EngineStats, FinishedRequestInfo, StepInfo } from '../engine/types.js';

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
const TOKEN_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

export interface ServerMetrics {
  registry: Registry;
  /**
   * The exposition text. Reads engine.stats() once for this scrape: every
   * collect callback of it sees the same snapshot, and a scrape started
   * after another ended never sees that one's (overlapping scrapes share).
   */
  scrape(): Promise<string>;
  /** Requests refused with 429. */
  rejected: { inc(): void };
  /** Requests aborted from the HTTP side (client gone, timeout, shutdown). */
  abort(reason: string): void;
  onRequestFinished(info: FinishedRequestInfo): void;
  onStep(info: StepInfo): void;
}

export function createServerMetrics(engine: Engine, modelName: string): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges *_total, which promtool's lint rejects
  // (only counters may end in _total); they add little next to the rest.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const labelNames = ['model_name'] as const;
  const lbl = { model_name: modelName };
  const reg = [registry];

  // One stats() call per scrape, shared by every collect callback of that
  // scrape; scrape() drops it first. (It was kept for 50 ms instead, so a
  // scrape within 50 ms of the last showed the last one's values: counters
  // that had not moved though requests had finished in between.)
  // Outside a scrape (registry.metrics() called directly) each read is fresh.
  let cached: EngineStats | null = null;
  let scraping = 0;
  const stats = (): EngineStats => (scraping > 0 ? (cached ??= engine.stats()) : engine.stats());
  const scrape = async (): Promise<string> => {
    if (scraping++ === 0) cached = null;
    try {
      return await registry.metrics();
    } finally {
      if (--scraping === 0) cached = null;
    }
  };

  new Gauge({ name: 'vllm:num_requests_running', help: 'Number of requests in model execution batches.', labelNames, registers: reg, collect() { this.set(lbl, stats().numRunning); } });
  new Gauge({ name: 'vllm:num_requests_waiting', help: 'Number of requests waiting to be processed.', labelNames, registers: reg, collect() { this.set(lbl, stats().numWaiting); } });
  new Gauge({
    name: 'vllm:kv_cache_usage_perc',
    help: 'KV-cache usage. 1 means 100 percent usage.',
    labelNames,
    registers: reg,
    collect() {
      const s = stats();
      this.set(lbl, s.kvBlocksTotal > 0 ? s.kvBlocksUsed / s.kvBlocksTotal : 0);
    },
  });
  new Gauge({
    name: 'hipserve_kv_blocks',
    help: 'KV-cache blocks by state: used (held by requests), cached (free but holding a reusable prefix), free.',
    labelNames: ['model_name', 'state'] as const,
    registers: reg,
    collect() {
      const s = stats();
      this.set({ ...lbl, state: 'used' }, s.kvBlocksUsed);
      this.set({ ...lbl, state: 'cached' }, s.kvBlocksCachedFree);
      this.set({ ...lbl, state: 'free' }, Math.max(0, s.kvBlocksTotal - s.kvBlocksUsed - s.kvBlocksCachedFree));
    },
  });

  // Cumulative engine counters: add the difference since the last scrape.
  const cumulative = (name: string, help: string, read: (s: EngineStats) => number): void => {
    let last = 0;
    new Counter({
      name,
      help,
      labelNames,
      registers: reg,
      collect() {
        const v = read(stats());
        // inc by 0 too: the series must exist (as 0) before the first hit, or dashboards see no data.
        this.inc(lbl, Math.max(0, v - last));
        last = Math.max(last, v);
      },
    });
  };
  cumulative('vllm:prefix_cache_queries_total', 'Prefix-cache queries, in tokens.', (s) => s.prefixCacheQueries);
  cumulative('vllm:prefix_cache_hits_total', 'Prefix-cache hits, in tokens.', (s) => s.prefixCacheHits);
  cumulative('vllm:num_preemptions_total', 'Cumulative number of preemptions.', (s) => s.numPreemptions);

  const promptTokens = new Counter({ name: 'vllm:prompt_tokens_total', help: 'Number of prefill tokens processed.', labelNames, registers: reg });
  const generationTokens = new Counter({ name: 'vllm:generation_tokens_total', help: 'Number of generation tokens processed.', labelNames, registers: reg });
  const success = new Counter({ name: 'vllm:request_success_total', help: 'Count of finished requests by finish reason.', labelNames: ['model_name', 'finished_reason'] as const, registers: reg });
  const h = (name: string, help: string, buckets: number[]): Histogram<'model_name'> => new Histogram({ name, help, buckets, labelNames, registers: reg });
  const ttft = h('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', TTFT_BUCKETS);
  const itl = h('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', ITL_BUCKETS);
  const e2e = h('vllm:e2e_request_latency_seconds', 'Histogram of end-to-end request latency in seconds.', LATENCY_BUCKETS);
  const queue = h('vllm:request_queue_time_seconds', 'Histogram of time spent waiting in the queue, in seconds.', LATENCY_BUCKETS);
  const reqPrompt = h('vllm:request_prompt_tokens', 'Number of prefill tokens per request.', TOKEN_BUCKETS);
  const reqGen = h('vllm:request_generation_tokens', 'Number of generation tokens per request.', TOKEN_BUCKETS);
  const iteration = h('vllm:iteration_tokens_total', 'Histogram of the number of tokens per engine step.', TOKEN_BUCKETS);
  const aborts = new Counter({ name: 'hipserve_request_aborts_total', help: 'Requests aborted by the server: client_disconnect, timeout.', labelNames: ['model_name', 'reason'] as const, registers: reg });
  const rejected = new Counter({ name: 'hipserve_requests_rejected_total', help: 'Requests refused with 429 because the queue was full.', labelNames, registers: reg });
  // Make the labelled series exist from the start, so dashboards see zeros.
  for (const r of ['stop', 'length', 'abort']) success.inc({ ...lbl, finished_reason: r }, 0);
  for (const r of ['client_disconnect', 'timeout']) aborts.inc({ ...lbl, reason: r }, 0);
  for (const c of [promptTokens, generationTokens, rejected]) c.inc(lbl, 0);

  return {
    registry,
    scrape,
    rejected: { inc: () => { rejected.inc(lbl); } },
    abort: (reason) => { aborts.inc({ ...lbl, reason }); },
    onRequestFinished(info) {
      success.inc({ ...lbl, finished_reason: info.finishReason });
      if (info.ttftS !== null) ttft.observe(lbl, info.ttftS);
      for (const gap of info.interTokenS) itl.observe(lbl, gap);
      e2e.observe(lbl, info.e2eS);
      queue.observe(lbl, info.queueTimeS);
      reqPrompt.observe(lbl, info.promptTokens);
      reqGen.observe(lbl, info.generationTokens);
    },
    onStep(info) {
      promptTokens.inc(lbl, info.numPromptTokens);
      generationTokens.inc(lbl, info.numGenerationTokens);
      iteration.observe(lbl, info.numTokens);
    },
  };
}
