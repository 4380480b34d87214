// Types exports.ops for the kernel tests; the addon comes from src/native.ts
// (HIPSERVE_ADDON=/path/to/hipserve.node picks a developer's own build).
import { ops as nativeOps } from '../../src/native.js';

export type OpResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: string; message: string; where: string } };

export type DTypeName = 'f32' | 'f16' | 'bf16' | 'q8_0';

export interface RopeParamsJs {
  theta?: number;
  style?: 'neox' | 'interleaved';
  rotaryDim?: number;
  llama3Factor?: number;
  llama3LowFreqFactor?: number;
  llama3HighFreqFactor?: number;
  llama3OriginalMaxPos?: number;
}

export interface AttentionArgs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** An f32 cache, or an f16 cache as Uint16Array bits. */
  kCache: Float32Array | Uint16Array;
  vCache: Float32Array | Uint16Array;
  slotMapping: Int32Array;
  queryStart: Int32Array;
  seqLens: Int32Array;
  blockTables: Int32Array;
  positions: Int32Array;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  blockSize: number;
  scale?: number;
}

export interface SampleArgs {
  logits: Float32Array;
  vocab: number;
  temperature: Float32Array;
  topP: Float32Array;
  topK: Int32Array;
  minP: Float32Array;
  presencePenalty: Float32Array;
  frequencyPenalty: Float32Array;
  repetitionPenalty: Float32Array;
  seeds: BigUint64Array;
  sampleIndex: Int32Array;
  numLogprobs: Int32Array;
  outputTokens?: Int32Array;
  outputStart?: Int32Array;
  promptTokens?: Int32Array;
  promptStart?: Int32Array;
  bannedTokens?: Int32Array;
  bannedStart?: Int32Array;
  biasTokens?: Int32Array;
  biasValues?: Float32Array;
  biasStart?: Int32Array;
  returnLogits?: boolean;
}

export interface SampleOut {
  sampled: Int32Array;
  logprob: Float32Array;
  topN: number;
  topIds: Int32Array;
  topLogprobs: Float32Array;
  logits?: Float32Array;
}

export interface Ops {
  simdLevel(): OpResult<string>;
  simdLevels(): OpResult<string[]>;
  setSimdLevel(level: string): OpResult<string>;
  /** Whether the packed kernels prefetch in software at batch 1 (off: f16/bf16 take x16_row); `on` sets it first. */
  decodePrefetch(on?: boolean): OpResult<boolean>;
  threads(): OpResult<number>;
  philox(seed: bigint, counter: number): OpResult<number>;
  /** GB/s: best of 8 reads (burst), or with `passes` the sustained rate of that many back-to-back reads. */
  readBandwidth(bytes: number, threads: number, passes?: number): OpResult<{ gbPerSecond: number }>;
  /** Mean ns of `rounds` cache-line ping-pongs between two of the pool's threads; null with one thread. */
  poolRoundTrip(rounds: number, threads?: number): OpResult<{ nanoseconds: number | null; threads: number }>;
  /** Items of `tasks` tiny back-to-back pool tasks that did not run exactly once within their task (0 unless the pool is broken). */
  poolStress(tasks: number, seed: number, threads?: number): OpResult<{ bad: number; threads: number }>;
  quantize(values: Float32Array, dtype: DTypeName): OpResult<Uint8Array>;
  dequantize(bytes: Uint8Array, dtype: DTypeName, n: number): OpResult<Float32Array>;
  /** `packed`: packWeights of `w`; the product then reads only it (the level's packed kernel or the portable one), as a model's. */
  matmul(
    x: Float32Array, M: number, K: number, w: Uint8Array, dtype: DTypeName, N: number, threads?: number, packed?: Uint8Array,
  ): OpResult<Float32Array>;
  /** Rows [N][K] of q8_0, f16 or bf16 in the 16-row interleaved layout (native/src/cpu/kernels.h). */
  packWeights(w: Uint8Array, dtype: DTypeName, N: number, K: number): OpResult<Uint8Array>;
  /** Whether the current SIMD level has its own kernel for dtype's packed layout. */
  packedKernel(dtype: DTypeName): OpResult<boolean>;
  /** Seconds per call (best, mean, and the calling thread's best CPU time); `w` may hold `copies` matrices back to back. */
  benchMatmul(
    x: Float32Array, M: number, K: number, w: Uint8Array, dtype: DTypeName, N: number, iters: number, threads?: number, copies?: number,
  ): OpResult<{ best: number; mean: number; cpuBest: number }>;
  embed(table: Uint8Array, dtype: DTypeName, rows: number, cols: number, ids: Int32Array): OpResult<Float32Array>;
  rmsnorm(x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): OpResult<Float32Array>;
  rope(x: Float32Array, positions: Int32Array, nHeads: number, headDim: number, params: RopeParamsJs): OpResult<Float32Array>;
  siluMul(gate: Float32Array, up: Float32Array): OpResult<Float32Array>;
  add(y: Float32Array, x: Float32Array): OpResult<Float32Array>;
  addBias(x: Float32Array, bias: Float32Array, rows: number, cols: number): OpResult<Float32Array>;
  pagedAttention(args: AttentionArgs): OpResult<Float32Array>;
  /** A decode step's RoPE, KV write and attention in one task (every sequence one token); q and k come back rotated. */
  decodeAttention(args: AttentionArgs & { rope: RopeParamsJs }): OpResult<{ out: Float32Array; q: Float32Array; k: Float32Array }>;
  sample(args: SampleArgs): OpResult<SampleOut>;
}

export const ops = nativeOps() as unknown as Ops;

export function unwrap<T>(r: OpResult<T>): T {
  if (!r.ok) throw new Error(`${r.error.code} in ${r.error.where}: ${r.error.message}`);
  return r.value;
}

// The SIMD levels this CPU runs; each test runs its cases at every one.
export function levels(): string[] {
  return unwrap(ops.simdLevels());
}

export function atLevel(level: string, fn: () => void): void {
  const before = unwrap(ops.simdLevel());
  unwrap(ops.setSimdLevel(level));
  try {
    fn();
  } finally {
    unwrap(ops.setSimdLevel(before));
  }
}
