// Streaming load: TTFT and inter-token latency percentiles at 1, 4 and 16
// concurrent streams against a running server.
//
//   node --import tsx bench/stream-load.ts [BASE_URL|fake] [--max-tokens 64] [--rounds 2] [--api-key KEY]
//
// The peer (llama.cpp through node-llama-cpp) has no HTTP server in this
// setup, so there is no peer column; bench/engine.ts compares engines.
//
// The helpers (target, SSE timing, percentiles, tables) are shared with bench/http.ts.

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Harness } from '../test/helpers/server-harness.js';

export interface BenchArgs {
  base: string;
  apiKey: string | null;
  opts: Map<string, string>;
  close(): Promise<void>;
}

export async function benchTarget(argv: string[]): Promise<BenchArgs> {
  const opts = new Map<string, string>();
  let base = 'http://127.0.0.1:8000';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2);
      opts.set(k, a.includes('=') ? v : (argv.at(++i) ?? ''));
    } else {
      base = a;
    }
  }
  let harness: Harness | null = null;
  if (base === 'fake') {
    const { startServer } = await import('../test/helpers/server-harness.js');
    harness = await startServer({ engine: { maxNumSeqs: 32, maxNumQueuedRequests: 256, maxModelLen: 4096, stepMs: 10 } });
    base = harness.url;
  }
  return {
    base: base.replace(/\/$/, ''),
    apiKey: opts.get('api-key') ?? process.env.HIPSERVE_API_KEY ?? null,
    opts,
    close: async () => {
      await harness?.close();
    },
  };
}

export function headers(apiKey: string | null): Record<string, string> {
  return { 'content-type': 'application/json', ...(apiKey === null ? {} : { authorization: `Bearer ${apiKey}` }) };
}

export async function servedModel(base: string, apiKey: string | null): Promise<string> {
  const res = await fetch(`${base}/v1/models`, { headers: headers(apiKey) });
  const body = (await res.json()) as { data: { id: string }[] };
  return body.data[0].id;
}

export interface StreamTiming {
  /** ms from sending the request to the first token chunk. */
  ttftMs: number | null;
  /** ms between consecutive token chunks. */
  gapsMs: number[];
  tokens: number;
  ok: boolean;
}

/** One streaming completion, timing each content chunk as it arrives. */
export async function timedStream(base: string, apiKey: string | null, body: object): Promise<StreamTiming> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/completions`, { method: 'POST', headers: headers(apiKey), body: JSON.stringify({ ...body, stream: true }) });
  const out: StreamTiming = { ttftMs: null, gapsMs: [], tokens: 0, ok: res.ok };
  if (!res.ok || res.body === null) {
    await res.text();
    return out;
  }
  const decoder = new TextDecoder();
  let buf = '';
  let last = t0;
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) !== -1) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const data = JSON.parse(event.slice(6)) as { choices?: { text?: string }[] };
      if ((data.choices?.[0]?.text ?? '') === '') continue;
      const now = performance.now();
      if (out.ttftMs === null) out.ttftMs = now - t0;
      else out.gapsMs.push(now - last);
      last = now;
      out.tokens++;
    }
  }
  return out;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

export function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(1)) : c)))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => c.padStart(widths[i])).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const target = await benchTarget(process.argv.slice(2));
  const maxTokens = Number(target.opts.get('max-tokens') ?? 64);
  const rounds = Number(target.opts.get('rounds') ?? 2);
  const levels = (target.opts.get('concurrency') ?? '1,4,16').split(',').map(Number);
  const model = await servedModel(target.base, target.apiKey);
  console.log(`stream-load: ${target.base} model=${model} max_tokens=${maxTokens} rounds=${rounds}`);

  const rows: (string | number)[][] = [];
  for (const c of levels) {
    const ttft: number[] = [];
    const itl: number[] = [];
    let tokens = 0;
    let failed = 0;
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) {
      const results = await Promise.all(
        Array.from({ length: c }, (_, i) => timedStream(target.base, target.apiKey, { model, prompt: `Stream ${i} of round ${r}: tell a story.`, max_tokens: maxTokens, ignore_eos: true, temperature: 0.8 })),
      );
      for (const res of results) {
        if (!res.ok) failed++;
        if (res.ttftMs !== null) ttft.push(res.ttftMs);
        itl.push(...res.gapsMs);
        tokens += res.tokens;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    rows.push([c, percentile(ttft, 0.5), percentile(ttft, 0.99), percentile(itl, 0.5), percentile(itl, 0.99), tokens / seconds, failed]);
  }
  console.log(table(['streams', 'TTFT p50 ms', 'TTFT p99 ms', 'ITL p50 ms', 'ITL p99 ms', 'tok/s', 'failed'], rows));
  await target.close();
}

// Also a module: bench/http.ts uses the helpers above.
if (realpathSync(process.argv.at(1) ?? '') === fileURLToPath(import.meta.url)) await main();
