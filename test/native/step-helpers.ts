// Test helpers that build forward() steps the way the runner will: each
// sequence owns a list of KV blocks (anywhere in the pool), a length, and
// its sampling parameters; a step is a list of (sequence, new tokens) chunks.
import type { KvCacheHandle, ModelHandle, Step, StepOutput } from '../../src/native.js';
import { forward } from '../../src/native.js';

export interface SeqSpec {
  blocks: number[];
  len: number; // tokens already in the cache
  generated: number[];
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: bigint;
  numLogprobs?: number;
}

export interface Chunk {
  seq: SeqSpec;
  tokens: number[];
  doSample: boolean;
}

export function newSeq(blocks: number[], extra: Partial<SeqSpec> = {}): SeqSpec {
  return { blocks, len: 0, generated: [], ...extra };
}

export function buildStep(chunks: Chunk[], blockSize: number): Step {
  const S = chunks.length;
  const maxBlocks = Math.max(1, ...chunks.map((c) => c.seq.blocks.length));
  const tokenIds: number[] = [];
  const positions: number[] = [];
  const slots: number[] = [];
  const queryStart = [0];
  const blockTables = new Int32Array(S * maxBlocks);
  chunks.forEach((c, i) => {
    c.tokens.forEach((t, k) => {
      const p = c.seq.len + k;
      const blk = c.seq.blocks.at(Math.floor(p / blockSize));
      if (blk === undefined) throw new Error(`test bug: position ${p} has no block`);
      tokenIds.push(t);
      positions.push(p);
      slots.push(blk * blockSize + (p % blockSize));
    });
    queryStart.push(tokenIds.length);
    blockTables.set(c.seq.blocks, i * maxBlocks);
  });
  const f32 = (pick: (c: Chunk) => number) => Float32Array.from(chunks.map(pick));
  return {
    tokenIds: Int32Array.from(tokenIds),
    positions: Int32Array.from(positions),
    queryStart: Int32Array.from(queryStart),
    seqLens: Int32Array.from(chunks.map((c) => c.seq.len + c.tokens.length)),
    blockTables,
    maxBlocksPerSeq: maxBlocks,
    slotMapping: Int32Array.from(slots),
    doSample: Uint8Array.from(chunks.map((c) => (c.doSample ? 1 : 0))),
    temperature: f32((c) => c.seq.temperature ?? 0),
    topP: f32((c) => c.seq.topP ?? 1),
    topK: Int32Array.from(chunks.map((c) => c.seq.topK ?? 0)),
    minP: f32(() => 0),
    presencePenalty: f32(() => 0),
    frequencyPenalty: f32(() => 0),
    repetitionPenalty: f32(() => 1),
    seeds: BigUint64Array.from(chunks.map((c) => c.seq.seed ?? 0n)),
    sampleIndex: Int32Array.from(chunks.map((c) => c.seq.generated.length)),
    numLogprobs: Int32Array.from(chunks.map((c) => c.seq.numLogprobs ?? -1)),
  };
}

/** forward() of one step; its error Result thrown. */
export async function forwardOk(model: ModelHandle, kv: KvCacheHandle, step: Step): Promise<StepOutput> {
  const r = await forward(model, kv, step);
  if (!r.ok) throw r.error;
  return r.value;
}

/** A source of fresh block ids: each call takes enough for `n` tokens of `blockSize` (plus one), never handed out again. */
export function blockAllocator(blockSize: number): (n: number) => number[] {
  let next = 1;
  return (n) => Array.from({ length: Math.ceil(n / blockSize) + 1 }, () => next++);
}

export interface Sampled {
  token: number;
  logprob: number;
  topIds: number[];
  topLogprobs: number[];
}

/**
 * Runs one step (through `run` when given, else forward()), advances every
 * chunk's sequence, returns what each sampled (null for doSample 0).
 */
export async function runStep(
  model: ModelHandle,
  kv: KvCacheHandle,
  chunks: Chunk[],
  blockSize: number,
  run?: (step: Step) => Promise<StepOutput>,
): Promise<{ out: StepOutput; sampled: (Sampled | null)[] }> {
  let out: StepOutput;
  if (run) {
    out = await run(buildStep(chunks, blockSize));
  } else {
    const r = await forward(model, kv, buildStep(chunks, blockSize));
    if (!r.ok) throw r.error;
    out = r.value;
  }
  const sampled = chunks.map((c, i) => {
    c.seq.len += c.tokens.length;
    if (!c.doSample) return null;
    const token = out.sampled[i];
    c.seq.generated.push(token);
    const n = out.topN;
    return {
      token,
      logprob: out.logprob[i],
      topIds: Array.from(out.topIds.subarray(i * n, (i + 1) * n)),
      topLogprobs: Array.from(out.topLogprobs.subarray(i * n, (i + 1) * n)),
    };
  });
  return { out, sampled };
}

/**
 * One sequence alone: the prompt in chunks of `chunk` tokens (Infinity = one
 * shot), then `steps` decodes. Returns every sampled token with its logprobs.
 */
export async function generateAlone(
  model: ModelHandle,
  kv: KvCacheHandle,
  seq: SeqSpec,
  prompt: number[],
  steps: number,
  blockSize: number,
  chunk = Infinity,
): Promise<Sampled[]> {
  const out: Sampled[] = [];
  for (let i = 0; i < prompt.length; i += chunk) {
    const part = prompt.slice(i, Math.min(prompt.length, i + chunk));
    const last = i + part.length >= prompt.length;
    const { sampled } = await runStep(model, kv, [{ seq, tokens: part, doSample: last }], blockSize);
    const s = sampled.at(0);
    if (last && s) out.push(s);
  }
  while (out.length < steps) {
    const prev = out.at(-1);
    if (!prev) throw new Error('test bug: no token to continue from');
    const { sampled } = await runStep(model, kv, [{ seq, tokens: [prev.token], doSample: true }], blockSize);
    const s = sampled.at(0);
    if (s) out.push(s);
  }
  return out;
}

/** A deterministic prompt of token ids in [lo, hi). */
export function promptIds(n: number, seed: number, lo = 100, hi = 30000): number[] {
  const out: number[] = [];
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(lo + (x % (hi - lo)));
  }
  return out;
}

/** A sequence of a batched run: its prompt, fed in chunks of `chunk` tokens, joining at `startStep`. */
export interface BatchJob {
  prompt: number[];
  chunk: number;
  startStep: number;
  spec: Partial<SeqSpec>;
}

/**
 * Runs every job through shared steps (prefill chunks and decodes mixed, each
 * job's KV blocks as given) until each has sampled `steps` tokens; returns
 * each job's samples and how many steps mixed prefills with decodes.
 */
export async function runBatched(
  model: ModelHandle,
  kv: KvCacheHandle,
  jobs: BatchJob[],
  blocks: number[][],
  steps: number,
  blockSize: number,
): Promise<{ out: Sampled[][]; mixed: number }> {
  const seqs = jobs.map((j, i) => newSeq(blocks[i] ?? [], j.spec));
  const fed = jobs.map(() => 0);
  const out: Sampled[][] = jobs.map(() => []);
  let mixed = 0;
  for (let step = 0; out.some((o) => o.length < steps); step++) {
    const chunks: Chunk[] = [];
    const owner: number[] = [];
    jobs.forEach((j, i) => {
      const seq = seqs.at(i);
      const o = out.at(i);
      if (seq === undefined || o === undefined || step < j.startStep || o.length >= steps) return;
      const from = fed[i] ?? 0;
      if (from < j.prompt.length) {
        const part = j.prompt.slice(from, from + j.chunk);
        fed[i] = from + part.length;
        chunks.push({ seq, tokens: part, doSample: fed[i] === j.prompt.length });
      } else {
        const last = o.at(-1);
        if (!last) throw new Error('test bug: nothing to decode from');
        chunks.push({ seq, tokens: [last.token], doSample: true });
      }
      owner.push(i);
    });
    if (chunks.some((c) => c.tokens.length > 1) && chunks.some((c) => c.tokens.length === 1)) mixed++;
    const { sampled } = await runStep(model, kv, chunks, blockSize);
    sampled.forEach((s, k) => {
      const i = owner.at(k);
      if (s && i !== undefined) out[i]?.push(s);
    });
  }
  return { out, mixed };
}
