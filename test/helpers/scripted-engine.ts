// A scripted engine for the engine's logic tests: a 26-letter vocabulary
// ('a' is 0 ... 'z' is 25, the EOS), a forward that samples what a script
// says (as the native multi-step call runs: bans for the first banSteps
// steps, stop ids end a burst), and a one-sentence grammar.
import { LlmEngine } from '../../src/engine/llm-engine.js';
import { ModelRunner, type ForwardFn, type StepArrays } from '../../src/runner/runner.js';
import { createScheduler } from '../../src/scheduler/scheduler.js';
import type { GenerateInput, RequestOutput, TokenGuide, TokenizerApi } from '../../src/engine/types.js';

export const V = 26;
export const EOS = 25;

/** Token id k is the letter 'a' + k; 25 ('z') is EOS. */
export const letters: TokenizerApi = {
  encode: (text) => Array.from(text, (c) => c.charCodeAt(0) - 97),
  decode: (ids, skip) => ids.filter((i) => !(skip === true && i === EOS)).map((i) => String.fromCharCode(97 + i)).join(''),
  applyChatTemplate: () => {
    throw new Error('no template');
  },
  tokenToString: (id) => String.fromCharCode(97 + id),
};

export interface Script {
  /** next token after `last`; default: last + 1 (a, b, c, ...). */
  next?: (last: number) => number;
  fail?: boolean;
  banned: number[][];
  /** Calls that ran several steps. */
  bursts?: number;
  /** Each sampled token's logit bias as the step carried it: [ids, values]. */
  bias?: [number[], number[]][];
}

/**
 * The scripted model. A multi-step call (numSteps > 1) runs as the native one
 * does: each seq's token feeds its next step until it samples one of its
 * stopTokens or has sampled maxSteps tokens; bannedTokens hold for the first
 * banSteps steps. Rows of S, step-major, -1 once a seq has stopped.
 */
export function scriptedForward(script: Script): ForwardFn {
  return (a: StepArrays) => {
    if (script.fail) return Promise.reject(new Error('device lost'));
    const S = a.queryStart.length - 1;
    const K = a.numSteps;
    if (K > 1) script.bursts = (script.bursts ?? 0) + 1;
    const sampled = new Int32Array(S * K).fill(-1);
    let steps = 1;
    for (let i = 0; i < S; i++) {
      if (a.doSample[i] === 0) continue;
      const banned = [...a.bannedTokens.subarray(a.bannedStart[i], a.bannedStart[i + 1])];
      const bias: [number[], number[]] = [
        [...a.biasTokens.subarray(a.biasStart[i], a.biasStart[i + 1])],
        [...a.biasValues.subarray(a.biasStart[i], a.biasStart[i + 1])],
      ];
      const stops = K > 1 ? [...a.stopTokens.subarray(a.stopStart[i], a.stopStart[i + 1])] : [];
      let last = a.tokenIds[a.queryStart[i + 1] - 1];
      for (let k = 0; k < (K > 1 ? a.maxSteps[i] : 1); k++) {
        const ban = K === 1 || k < a.banSteps[i] ? banned : [];
        script.banned.push(ban);
        script.bias?.push(bias);
        let tok = script.next ? script.next(last) : (last + 1) % V;
        while (ban.includes(tok)) tok = (tok + 1) % V;
        sampled[k * S + i] = tok;
        steps = Math.max(steps, k + 1);
        last = tok;
        if (stops.includes(tok)) break;
      }
    }
    const n = S * K;
    return Promise.resolve({ steps, sampled, logprob: new Float32Array(n).fill(-0.5), topN: 0, topIds: new Int32Array(0), topLogprobs: new Float32Array(0) });
  };
}

export function makeEngine(script: Script, opts: { numBlocks?: number; maxQueued?: number; overlap?: boolean; steps?: number } = {}) {
  const scheduler = createScheduler({ numBlocks: opts.numBlocks ?? 64, blockSize: 4, maxNumBatchedTokens: 64, maxNumSeqs: 8, hashSeed: 'test' });
  const runner = new ModelRunner(scriptedForward(script), 4);
  const logs: string[] = [];
  const log = { info: () => undefined, warn: (_o: object, m?: string) => logs.push(m ?? ''), error: (_o: object, m?: string) => logs.push(m ?? '') };
  const engine = new LlmEngine(
    { name: 'letters', maxModelLen: 64, vocabSize: V, architecture: 'test', eosTokenIds: [EOS], isDemo: false, hiddenSize: 8, pooling: 'last' },
    letters,
    scheduler,
    runner,
    { maxNumQueuedRequests: opts.maxQueued ?? 100, seed: 0, overlapSteps: opts.overlap ?? false, numSchedulerSteps: opts.steps ?? 1 },
    log,
  );
  return { engine, logs };
}

export async function collect(it: AsyncIterable<RequestOutput>) {
  const outs: RequestOutput[] = [];
  for await (const o of it) outs.push(o);
  const byChoice = new Map<number, { text: string; tokens: number[]; finish: string | null; stop: string | number | null }>();
  for (const o of outs) {
    for (const d of o.deltas) {
      const c = byChoice.get(d.index) ?? { text: '', tokens: [], finish: null, stop: null };
      c.text += d.text;
      c.tokens.push(...d.tokenIds);
      c.finish = d.finishReason;
      c.stop = d.stopReason;
      byChoice.set(d.index, c);
    }
  }
  return { outs, choices: byChoice };
}

export const gen = (engine: LlmEngine, input: GenerateInput) => collect(engine.generate(input));

/** A grammar of one sentence: `seq`, then EOS; everything else is rejected. Counts its calls. */
export class SentenceGuide implements TokenGuide {
  private pos = 0;
  private ids: number[] = [];
  accepted: number[] = [];
  disposed = 0;
  constructor(private readonly seq: number[]) {
    this.ids = this.compute();
  }
  private compute(): number[] {
    const want = this.pos < this.seq.length ? this.seq[this.pos] : EOS;
    return Array.from({ length: V }, (_, i) => i).filter((i) => i !== want);
  }
  rejected(): readonly number[] {
    return this.ids;
  }
  accept(tok: number): boolean {
    this.accepted.push(tok);
    const want = this.pos < this.seq.length ? this.seq[this.pos] : EOS;
    if (tok !== want) return false;
    this.pos++;
    return true;
  }
  refresh(): Promise<void> {
    this.ids = this.compute();
    return Promise.resolve();
  }
  dispose(): void {
    this.disposed++;
  }
}
