// A minimal driver of hipserve's native forward (src/native.ts) for greedy
// decoding of a few sequences: each sequence owns a contiguous run of KV
// blocks, prompts are prefilled one sequence per step, then every sequence
// decodes one token per step, all in the same step. Used by the llama.cpp
// agreement test and by bench/decode.ts.
import { createKvCache, releaseKvCache, type ModelHandle } from '../../src/native.js';
import { makeStepRunner, syncStepBudgetFromEnv } from '../../src/runner/forward-policy.js';
import { newSeq, runStep, type Sampled, type SeqSpec } from '../native/step-helpers.js';

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
  // The engine's step function, so the bench measures what the server runs.
  const run = makeStepRunner(model, kv, { backend: opts.backend ?? 'cpu', budgetMs: opts.syncStepMs ?? syncStepBudgetFromEnv() });
  try {
    const seqs: SeqSpec[] = prompts.map((_, i) =>
      newSeq(Array.from({ length: maxBlocks }, (_, b) => 1 + i * maxBlocks + b), { numLogprobs: topN }),
    );
    const results: SeqResult[] = prompts.map(() => ({ tokens: [], logprobs: [], top: [] }));
    const record = (i: number, s: Sampled | null): void => {
      if (s === null || s.token < 0) throw new Error('forward sampled no token');
      const r = results[i];
      r.tokens.push(s.token);
      r.logprobs.push(s.logprob);
      r.top.push({ ids: s.topIds, logprobs: s.topLogprobs });
    };
    const t0 = performance.now();
    for (const [i, seq] of seqs.entries()) {
      const { sampled } = await runStep(model, kv, [{ seq, tokens: [...(prompts[i] ?? [])], doSample: true }], blockSize, run);
      record(i, sampled[0] ?? null);
    }
    const t1 = performance.now();
    let decodeSteps = 0;
    let nativeDecodeMs = 0;
    for (let s = 1; s < opts.steps; s++) {
      const chunks = seqs.map((seq) => ({ seq, tokens: [seq.generated.at(-1) ?? 0], doSample: true }));
      const { out, sampled } = await runStep(model, kv, chunks, blockSize, run);
      nativeDecodeMs += out.timings.forwardMs + out.timings.sampleMs;
      sampled.forEach((x, i) => {
        record(i, x);
      });
      decodeSteps++;
    }
    const t2 = performance.now();
    return { seqs: results, prefillMs: t1 - t0, decodeMs: t2 - t1, nativeDecodeMs, decodeSteps, entries: { ...run.counts } };
  } finally {
    releaseKvCache(kv);
  }
}
