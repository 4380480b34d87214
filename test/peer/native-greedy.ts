// A minimal driver of hipserve's native forward (src/native.ts) for greedy
// decoding of a few sequences: each sequence owns a contiguous run of KV
// blocks, prompts are prefilled one sequence per step, then every sequence
// decodes one token per step, all in the same step. Used by the llama.cpp
// agreement test and by bench/decode.ts.
import { createKvCache, forward, releaseKvCache, type ModelHandle, type Step, type StepOutput } from '../../src/native.js';

export interface GreedyOptions {
  steps: number;
  /** Also return the top-N logprobs of every sampled position (0 = only the chosen one). */
  topN?: number;
  blockSize?: number;
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
}

interface SeqState {
  blocks: number[];
  len: number;
  out: SeqResult;
}

function buildStep(chunks: { seq: SeqState; tokens: number[] }[], blockSize: number, maxBlocks: number, topN: number): Step {
  const S = chunks.length;
  const tokenIds: number[] = [];
  const positions: number[] = [];
  const slots: number[] = [];
  const queryStart = [0];
  const blockTables = new Int32Array(S * maxBlocks);
  chunks.forEach((c, i) => {
    c.tokens.forEach((tok, k) => {
      const p = c.seq.len + k;
      const block = c.seq.blocks.at(Math.floor(p / blockSize));
      if (block === undefined) throw new Error(`driver bug: position ${String(p)} has no block`);
      tokenIds.push(tok);
      positions.push(p);
      slots.push(block * blockSize + (p % blockSize));
    });
    queryStart.push(tokenIds.length);
    blockTables.set(c.seq.blocks, i * maxBlocks);
  });
  const fill = <T extends Float32Array | Int32Array>(make: (n: number) => T, v: number): T => make(S).fill(v) as T;
  return {
    tokenIds: Int32Array.from(tokenIds),
    positions: Int32Array.from(positions),
    queryStart: Int32Array.from(queryStart),
    seqLens: Int32Array.from(chunks.map((c) => c.seq.len + c.tokens.length)),
    blockTables,
    maxBlocksPerSeq: maxBlocks,
    slotMapping: Int32Array.from(slots),
    doSample: new Uint8Array(S).fill(1),
    temperature: fill((n) => new Float32Array(n), 0),
    topP: fill((n) => new Float32Array(n), 1),
    topK: fill((n) => new Int32Array(n), 0),
    minP: fill((n) => new Float32Array(n), 0),
    presencePenalty: fill((n) => new Float32Array(n), 0),
    frequencyPenalty: fill((n) => new Float32Array(n), 0),
    repetitionPenalty: fill((n) => new Float32Array(n), 1),
    seeds: new BigUint64Array(S),
    sampleIndex: Int32Array.from(chunks.map((c) => c.seq.out.tokens.length)),
    numLogprobs: fill((n) => new Int32Array(n), topN),
  };
}

function record(seq: SeqState, res: StepOutput, i: number): number {
  const tok = res.sampled[i] ?? -1;
  if (tok < 0) throw new Error('forward sampled no token');
  seq.out.tokens.push(tok);
  seq.out.logprobs.push(res.logprob[i] ?? NaN);
  const ids = Array.from(res.topIds.subarray(i * res.topN, (i + 1) * res.topN));
  const lps = Array.from(res.topLogprobs.subarray(i * res.topN, (i + 1) * res.topN));
  seq.out.top.push({ ids, logprobs: lps });
  return tok;
}

async function run(model: ModelHandle, kv: Parameters<typeof forward>[1], step: Step): Promise<StepOutput> {
  const r = await forward(model, kv, step);
  if (!r.ok) throw new Error(`forward failed: ${r.error.message} (${r.error.code})`);
  return r.value;
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
  try {
    const seqs: SeqState[] = prompts.map((_, i) => ({
      blocks: Array.from({ length: maxBlocks }, (_, b) => 1 + i * maxBlocks + b),
      len: 0,
      out: { tokens: [], logprobs: [], top: [] },
    }));
    const last: number[] = [];
    const t0 = performance.now();
    for (const [i, seq] of seqs.entries()) {
      const prompt = [...(prompts[i] ?? [])];
      const res = await run(model, kv, buildStep([{ seq, tokens: prompt }], blockSize, maxBlocks, topN));
      seq.len += prompt.length;
      last.push(record(seq, res, 0));
    }
    const t1 = performance.now();
    let decodeSteps = 0;
    let nativeDecodeMs = 0;
    for (let s = 1; s < opts.steps; s++) {
      const res = await run(model, kv, buildStep(seqs.map((seq, i) => ({ seq, tokens: [last[i] ?? 0] })), blockSize, maxBlocks, topN));
      nativeDecodeMs += res.timings.forwardMs + res.timings.sampleMs;
      seqs.forEach((seq, i) => {
        seq.len += 1;
        last[i] = record(seq, res, i);
      });
      decodeSteps++;
    }
    const t2 = performance.now();
    return { seqs: seqs.map((s) => s.out), prefillMs: t1 - t0, decodeMs: t2 - t1, nativeDecodeMs, decodeSteps };
  } finally {
    releaseKvCache(kv);
  }
}
