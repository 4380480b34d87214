// A live server whose "model" writes exactly the text a test gives it:
// the real server, engine, scheduler and Qwen3 tokenizer (its template asks
// for <tool_call> blocks and writes <think> ones) over a scripted forward,
// since a random-weight model never writes a call or a thought. A step that
// bans every token but one (a thinking budget's forced tag) gets that one;
// other bans are noted (violations) and the script is written anyway.
import type { Test } from 'tap';
import OpenAI from 'openai';
import { pino } from 'pino';
import { defaultConfig, type ServeConfig } from '../../src/config/options.js';
import { LlmEngine } from '../../src/engine/llm-engine.js';
import { loadTokenizer } from '../../src/models/tokenizer.js';
import { ModelRunner, type ForwardFn, type StepArrays } from '../../src/runner/runner.js';
import { createScheduler } from '../../src/scheduler/scheduler.js';
import { buildServer } from '../../src/server/app.js';
import { fixtureModel } from '../fixtures/models.js';
import { quiet } from './helpers.js';

/** The one id an ascending ban list of all but one leaves. */
function onlyAllowed(banned: Int32Array): number {
  let id = 0;
  while (id < banned.length && banned[id] === id) id++;
  return id;
}

/** `tokenizerDir`: another tokenizer than the Qwen3 fixture's. */
export async function startScripted(t: Test, config: Partial<ServeConfig> = {}, tokenizerDir?: string) {
  const tokenizer = await loadTokenizer(tokenizerDir ?? (await fixtureModel('qwen3', 'safetensors')));
  const eos = tokenizer.encode('<|im_end|>', false);
  t.equal(eos.length, 1, '<|im_end|> is one token');
  const vocabSize = tokenizer.vocabSize;
  // What the model writes next: the tokens of `script`, then EOS. Each
  // sequence keeps the script it first sampled with (by its seed: constant
  // per sequence, drawn per request by the engine when none is given) and
  // counts its tokens from its prompt's length.
  let script: number[] = [];
  const bySeed = new Map<string, { promptLen: number; tokens: number[] }>();
  /** Script tokens the step had banned (a grammar said no): the script writes them anyway. */
  const violations: number[] = [];
  const forward: ForwardFn = (a: StepArrays) => {
    const S = a.queryStart.length - 1;
    const sampled = new Int32Array(S).fill(-1);
    for (let i = 0; i < S; i++) {
      if (a.doSample[i] === 0) continue;
      const key = String(a.seeds[i]);
      let seq = bySeed.get(key);
      if (seq === undefined) {
        seq = { promptLen: a.seqLens[i], tokens: script };
        bySeed.set(key, seq);
      }
      sampled[i] = seq.tokens[a.seqLens[i] - seq.promptLen] ?? eos[0];
      const banned = a.bannedTokens.subarray(a.bannedStart[i], a.bannedStart[i + 1]);
      if (!banned.includes(sampled[i])) continue;
      // Every id but one banned (a thinking budget's forced tag): any sampler writes that one.
      if (banned.length === vocabSize - 1) sampled[i] = onlyAllowed(banned);
      else violations.push(sampled[i]);
    }
    return Promise.resolve({ sampled, logprob: new Float32Array(S).fill(-0.25), topN: 0, topIds: new Int32Array(0), topLogprobs: new Float32Array(0) });
  };
  const engine = new LlmEngine(
    { name: 'scripted', maxModelLen: 2048, vocabSize, architecture: 'qwen3', eosTokenIds: eos, isDemo: false, hiddenSize: 64, pooling: 'last' },
    tokenizer,
    createScheduler({ numBlocks: 512, blockSize: 16, maxNumBatchedTokens: 2048, maxNumSeqs: 4, hashSeed: 'test' }),
    new ModelRunner(forward, 16),
    { maxNumQueuedRequests: 16, seed: 0, numSchedulerSteps: 1 },
    quiet,
  );
  const { app } = await buildServer({ engine, config: { ...defaultConfig(), servedModelName: ['scripted'], ...config }, logger: pino({ level: 'silent' }) });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await app.close();
    await engine.close();
  });
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  /** The next request's model writes `text` (then EOS). */
  const writes = (text: string): void => {
    script = tokenizer.encode(text, false);
  };
  return { client, writes, engine, url, violations, tokenizer };
}
