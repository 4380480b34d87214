// HTTP overhead under load: autocannon against /health and /v1/completions,
// idle and while streams generate in the background.
//
//   node --import tsx bench/http.ts [BASE_URL|fake] [--duration 10] [--streams 4] [--api-key KEY]
//
// /health while generating shows whether the event loop stays responsive
// (probes must not time out under load); /v1/completions shows the request
// path's throughput including 429s once the queue is full.

import { createRequire } from 'node:module';
import { benchTarget, headers, percentile, servedModel, table, timedStream } from './stream-load.js';

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
}
type Autocannon = (opts: { url: string; method?: string; body?: string; headers?: Record<string, string>; connections: number; duration: number }) => Promise<AutocannonResult>;
// autocannon ships no type declarations; this is the slice of its API used here.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const target = await benchTarget(process.argv.slice(2));
const duration = Number(target.opts.get('duration') ?? 10);
const streams = Number(target.opts.get('streams') ?? 4);
const model = await servedModel(target.base, target.apiKey);
console.log(`http: ${target.base} model=${model} duration=${duration}s background streams=${streams}`);

/** Keeps `n` streams generating until stop() is called; returns their inter-token gaps. */
function background(n: number): { stop(): Promise<number[]> } {
  let running = true;
  const gaps: number[] = [];
  const loops = Array.from({ length: n }, async (_, i) => {
    while (running) {
      const r = await timedStream(target.base, target.apiKey, { model, prompt: `Background ${i}`, max_tokens: 64, ignore_eos: true });
      gaps.push(...r.gapsMs);
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return gaps;
    },
  };
}

const run = (path: string, connections: number, body?: object): Promise<AutocannonResult> =>
  autocannon({
    url: `${target.base}${path}`,
    connections,
    duration,
    headers: headers(target.apiKey),
    ...(body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) }),
  });

const completion = { model, prompt: 'Hello', max_tokens: 8 };
const rows: (string | number)[][] = [];
const add = (name: string, r: AutocannonResult): void => {
  rows.push([name, r.requests.average, r.latency.p50, r.latency.p99, r['2xx'], r.non2xx, r.errors + r.timeouts]);
};

add('GET /health (idle)', await run('/health', 10));
let bg = background(streams);
add(`GET /health (+${streams} streams)`, await run('/health', 10));
const gapsDuringHealth = await bg.stop();
add('POST /v1/completions (idle)', await run('/v1/completions', 4, completion));
bg = background(streams);
add(`POST /v1/completions (+${streams} streams)`, await run('/v1/completions', 4, completion));
const gapsDuringCompletions = await bg.stop();

console.log(table(['target', 'req/s', 'p50 ms', 'p99 ms', '2xx', 'non-2xx', 'errors'], rows));
console.log(
  table(
    ['background streams during', 'ITL p50 ms', 'ITL p99 ms', 'max ms'],
    [
      ['/health load', percentile(gapsDuringHealth, 0.5), percentile(gapsDuringHealth, 0.99), Math.max(0, ...gapsDuringHealth)],
      ['/v1/completions load', percentile(gapsDuringCompletions, 0.5), percentile(gapsDuringCompletions, 0.99), Math.max(0, ...gapsDuringCompletions)],
    ],
  ),
);
console.log('peer: none for HTTP (node-llama-cpp runs in-process, without a server); see bench/engine.ts for the engine comparison.');
await target.close();
