// A minimal driver of hipserve's native forward (src/native.ts) for greedy
// decoding of a few sequences: each sequence owns a contiguous run of KV
// blocks, prompts are prefilled one sequence per step, then every sequence
// decodes one token per step, all in the same step. Steps go through the
// engine's own runner (src/runner/runner.ts: its packing into reused
// buffers, then the engine's step function), and decode steps are grouped
// into multi-step calls as the engine groups them (as many as the step
// function predicts to fit its synchronous budget, unless `stepsPerCall`
// fixes the number), so what is timed is what the server runs. Used by the
// llama.cpp agreement test and by bench/decode.ts.
import { createKvCache, releaseKvCache, type ModelHandle, type Step } from '../../src/native.js';
import { DEFAULT_SAMPLING } from '../../src/engine/params.js';
import { makeStepRunner, syncStepBudgetFromEnv } from '../../src/runner/forward-policy.js';
import { MAX_AUTO_STEPS, ModelRunner, type ForwardFn, type RunnableSeq, type SeqSampling } from '../../src/runner/runner.js';

export interface GreedyOptions {
  steps: number;
  /**
   * Top-N logprobs of every sampled position (0 = only the chosen one's, the
   * default; -1 = none: no log-softmax over the vocabulary, as a server
   * request without `logprobs`, and as llama.cpp's greedy decode).
   */
  topN?: number;
  blockSize?: number;
  /** The model's backend (LoadedModel.info.backend), for the engine's choice of forward entry; default 'cpu'. */
  backend?: string;
  /** Event-loop budget of a synchronous step, as the engine's (src/runner/forward-policy.ts); default HIPSERVE_SYNC_STEP_MS or 10. */
  syncStepMs?: number;
  /** Decode steps per native call; default as the engine's 'auto' (MAX_AUTO_STEPS at most). */
  stepsPerCall?: number;
  /**
   * Called after each decode call with its steps and wall-clock ms (the
   * runner's packing and the native call); the time it takes is left out of
   * decodeMs. bench/decode.ts reads the weights there (the same-moment roofline).
   */
  afterCall?: (steps: number, ms: number, index: number) => void;
}

export interface SeqResult {
  tokens: number[];
  logprobs: number[];
  top: { ids: number[]; logprobs: number[] }[];
}

export interface GreedyResult {
  seqs: SeqResult[];
  prefillMs: number;
  decodeMs: number;
  /** The part of decodeMs spent inside the native forward (the rest is the JS driver and the hand-off). */
  nativeDecodeMs: number;
  /** Decode steps run (each decodes every sequence once). */
  decodeSteps: number;
  /** Native calls that ran them. */
  decodeCalls: number;
  /** Steps run on the JS thread (forwardSync) and on the worker thread (forward). */
  entries: { sync: number; async: number };
}

/** Greedy continuation of each prompt for `steps` tokens, the sequences decoding together. */
export async function nativeGreedy(model: ModelHandle, prompts: readonly (readonly number[])[], opts: GreedyOptions): Promise<GreedyResult> {
  const blockSize = opts.blockSize ?? 16;
  const topN = opts.topN ?? 0;
  const maxLen = Math.max(...prompts.map((p) => p.length)) + opts.steps;
  const maxBlocks = Math.ceil(maxLen / blockSize);
  // Block 0 is the null block; sequence i owns blocks 1 + i*maxBlocks ...
  const kvr = createKvCache(model, { numBlocks: 1 + prompts.length * maxBlocks, blockSize });
  if (!kvr.ok) throw new Error(`createKvCache failed: ${kvr.error.message}`);
  const kv = kvr.value.handle;
  // The engine's step function and runner, so the bench measures what the server runs.
  const run = makeStepRunner(model, kv, { backend: opts.backend ?? 'cpu', budgetMs: opts.syncStepMs ?? syncStepBudgetFromEnv() });
  let lastNativeMs = 0; // the last step's native forward + sampling
  // The wrapper keeps the step runner's stepsFor: without it the runner
  // asks for one step per call (runner.ts), and multi-step never ran here.
  const forward: ForwardFn = Object.assign(
    async (step: Step) => {
      const out = await run(step);
      lastNativeMs = out.timings.forwardMs + out.timings.sampleMs;
      return out;
    },
    { stepsFor: (tokens: number, max: number) => run.stepsFor(tokens, max) },
  );
  const runner = new ModelRunner(forward, blockSize);
  try {
    const results: SeqResult[] = prompts.map(() => ({ tokens: [], logprobs: [], top: [] }));
    const blocks = prompts.map((_, i) => Array.from({ length: maxBlocks }, (_, b) => 1 + i * maxBlocks + b));
    const lens = prompts.map(() => 0);
    // The engine's default sampling (no filters, no penalties) at
    // temperature 0; outputTokenIds is each sequence's live token list (its
    // length is the sample index, as the engine's).
    const { topP, topK, minP, presencePenalty, frequencyPenalty, repetitionPenalty } = DEFAULT_SAMPLING;
    const sampling: SeqSampling[] = results.map((r) => ({
      temperature: 0,
      topP,
      topK,
      minP,
      presencePenalty,
      frequencyPenalty,
      repetitionPenalty,
      seed: 0n,
      numLogprobs: topN,
      promptTokenIds: [],
      outputTokenIds: r.tokens,
      banned: [],
    }));
    const samplingOf = (id: string): SeqSampling => sampling[Number(id)];
    // Runs one call of (sequence index, new tokens) chunks, every chunk
    // sampling; a call of numSteps > 1 decodes that many tokens of each.
    const step = async (chunks: { i: number; tokens: readonly number[] }[], numSteps = 1): Promise<number> => {
      const seqs: RunnableSeq[] = chunks.map(({ i, tokens }) => ({
        requestId: String(i),
        tokenIds: tokens,
        startPos: lens[i],
        numTokens: tokens.length,
        blockIds: blocks[i],
        sample: true,
        maxSteps: numSteps,
      }));
      const out = await runner.execute(seqs, samplingOf, numSteps);
      if (out.steps !== numSteps) throw new Error(`forward ran ${out.steps} of ${numSteps} steps`);
      const S = chunks.length;
      const n = out.topN;
      for (let k = 0; k < out.steps; k++) {
        chunks.forEach(({ i, tokens }, j) => {
          const row = k * S + j;
          lens[i] += k === 0 ? tokens.length : 1;
          const token = out.sampled[row];
          if (token < 0) throw new Error('forward sampled no token');
          const r = results[i];
          r.tokens.push(token);
          r.logprobs.push(out.logprob[row]);
          r.top.push({ ids: Array.from(out.topIds.subarray(row * n, (row + 1) * n)), logprobs: Array.from(out.topLogprobs.subarray(row * n, (row + 1) * n)) });
        });
      }
      return lastNativeMs;
    };
    const t0 = performance.now();
    for (const [i, p] of prompts.entries()) await step([{ i, tokens: p }]);
    const t1 = performance.now();
    let decodeSteps = 0;
    let decodeCalls = 0;
    let nativeDecodeMs = 0;
    let hookMs = 0;
    while (decodeSteps < opts.steps - 1) {
      const k = Math.min(opts.steps - 1 - decodeSteps, opts.stepsPerCall ?? runner.stepsFor(prompts.length, MAX_AUTO_STEPS));
      const c0 = performance.now();
      nativeDecodeMs += await step(
        results.map((r, i) => ({ i, tokens: [r.tokens.at(-1) ?? 0] })),
        k,
      );
      const c1 = performance.now();
      if (opts.afterCall) {
        opts.afterCall(k, c1 - c0, decodeCalls);
        hookMs += performance.now() - c1;
      }
      decodeSteps += k;
      decodeCalls++;
    }
    const t2 = performance.now();
    return { seqs: results, prefillMs: t1 - t0, decodeMs: t2 - t1 - hookMs, nativeDecodeMs, decodeSteps, decodeCalls, entries: { ...run.counts } };
  } finally {
    releaseKvCache(kv);
  }
}
