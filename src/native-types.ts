// The value types of the native addon's surface (src/native.ts re-exports
// them all): handles, model and step layouts, backend and kernel reports.

// ---- opaque handles ---------------------------------------------------------

declare const modelBrand: unique symbol;
declare const kvBrand: unique symbol;
/** A loaded model (a type-tagged External on the native side). */
export interface ModelHandle {
  readonly [modelBrand]: true;
}
/** A paged KV cache created for one model. */
export interface KvCacheHandle {
  readonly [kvBrand]: true;
}

// ---- value types ------------------------------------------------------------

export type NativeDType = 'f32' | 'f16' | 'bf16' | 'q8_0';

export interface BackendCapabilities {
  dtypes: string[];
  pagedKv: boolean;
  deviceMemory: boolean;
  async: boolean;
}
export interface BackendInfo {
  name: string;
  description: string;
  available: boolean;
  /** Why the backend cannot be used here; '' when available. */
  reason: string;
  /** Higher is preferred; cpu is the lowest. */
  score: number;
  capabilities: BackendCapabilities;
  /** cpu only: the SIMD path chosen at run time. */
  simd?: string;
}
export interface AttentionBackendInfo {
  name: string;
  backend: string;
  kvDtypes: string[];
  /** Empty = any even head size up to maxHeadSize. */
  headSizes: number[];
  maxHeadSize: number;
  /** Empty = any block size up to maxBlockSize. */
  blockSizes: number[];
  maxBlockSize: number;
  pagedKv: boolean;
  gqa: boolean;
  mixedPrefillDecode: boolean;
  score: number;
}

export interface NativeModelInfo {
  architecture: 'llama' | 'qwen2' | 'qwen3';
  format: 'safetensors' | 'gguf';
  /** dtype of the layer matrices as stored in the file. */
  dtype: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  /** -1 when the checkpoint names none. */
  bosTokenId: number;
  eosTokenIds: number[];
  ropeStyle: 'neox' | 'interleaved';
  backend: string;
  /** Threads of the pool the forward runs on. */
  threads: number;
  /** 'memory': the weight files were read into huge-page memory; 'mmap': mapped (HIPSERVE_WEIGHTS, native/README.md). */
  weights: 'memory' | 'mmap';
  /**
   * Bytes of matrices held in the 16-row packed layout of the CPU's AVX-512
   * kernels (native/README.md); their row copies are dropped. 0: none (no
   * SIMD packed kernel on this CPU, or no Q8_0/f16/bf16 matrices).
   */
  packedBytes: number;
  /** Element type of this model's KV caches (LoadModelOptions.kvCacheDtype). */
  kvCacheDtype: 'f16' | 'f32';
  /** Device backends (hip, hip-emu) only: the device's memory at load time. */
  deviceMemory?: DeviceMemoryInfo;
}

/** Bytes of the device a model was loaded on, read after its weights and scratch were allocated. */
export interface DeviceMemoryInfo {
  totalBytes: number;
  freeBytes: number;
  /** Held by this model's weights. */
  weightBytes: number;
  /** Held by this model's activation and sampling scratch. */
  scratchBytes: number;
}

export interface LoadModelOptions {
  /** 'cpu', another registered backend, or 'auto' (default): the best available. */
  device?: string;
  /** CPU threads for this model's forward; 0/absent = the process-wide pool (HIPSERVE_THREADS, else all cores). */
  threads?: number;
  /** Device backends: activation memory is reserved for this many tokens per step (default 2048; more grows it). */
  maxBatchedTokens?: number;
  /** KV cache elements: 'auto' (default: f16 on the CPU, f32 on a device), 'f16' (CPU only), 'f32'. */
  kvCacheDtype?: 'auto' | 'f16' | 'f32';
}
export interface LoadedModel {
  handle: ModelHandle;
  info: NativeModelInfo;
}
export interface KvCache {
  handle: KvCacheHandle;
  bytes: number;
}

/** One step, exactly the layout of native/README.md. S sequences, T tokens. */
export interface Step {
  tokenIds: Int32Array; // [T]
  positions: Int32Array; // [T]
  queryStart: Int32Array; // [S+1]
  seqLens: Int32Array; // [S]
  blockTables: Int32Array; // [S * maxBlocksPerSeq]
  maxBlocksPerSeq: number;
  slotMapping: Int32Array; // [T]
  doSample: Uint8Array; // [S]
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
  /** The flat lists may be left out: empty, every offset 0. */
  outputTokens?: Int32Array;
  outputStart?: Int32Array; // [S+1]
  promptTokens?: Int32Array;
  promptStart?: Int32Array; // [S+1]
  bannedTokens?: Int32Array;
  bannedStart?: Int32Array; // [S+1]
  /** logit_bias: per seq, strictly increasing token ids and the values added to their logits. */
  biasTokens?: Int32Array;
  biasValues?: Float32Array; // one per id of biasTokens
  biasStart?: Int32Array; // [S+1]
  /**
   * Prompt logprobs (echo): per token, the prompt token that follows it
   * (-1: none) [T], and per seq the top-N wanted (-1: none) [S]; a target
   * needs its seq's N >= 0. Both absent: none.
   */
  promptTargets?: Int32Array;
  numPromptLogprobs?: Int32Array;
  /**
   * Hidden states (embeddings), per seq [S]: 0 none, 1 its last token's, 2
   * each of its tokens' (after the final norm, in StepOutput.hidden). A seq
   * that asks for them must not sample. Absent or empty: none.
   */
  embedRows?: Uint8Array;
  /**
   * Several decode steps in one call (default 1): every seq a single-token
   * decode that samples; each step feeds its sampled token back as the next
   * input, until the seq samples one of its stopTokens or has sampled
   * maxSteps[i] tokens. The block tables must hold seqLens[i] + maxSteps[i] - 1
   * tokens.
   */
  numSteps?: number;
  stopTokens?: Int32Array;
  stopStart?: Int32Array; // [S+1]
  /** [S] tokens seq i may sample in this call, 1..numSteps; default numSteps. */
  maxSteps?: Int32Array;
  /** [S] leading steps bannedTokens apply to (min_tokens); default all. */
  banSteps?: Int32Array;
}

export interface StepOutput {
  /**
   * Steps run (1 unless numSteps > 1). The arrays below hold numSteps rows
   * of S, step-major: row k * S + i is seq i's token of step k, -1 where it
   * did not sample (doSample 0, or stopped before step k).
   */
  steps: number;
  /** [S] token id, -1 where doSample[i] == 0. */
  sampled: Int32Array;
  /** [S] logprob of the sampled token, NaN where not asked. */
  logprob: Float32Array;
  topN: number;
  /** [S * topN] best first; -1 past a sequence's numLogprobs. */
  topIds: Int32Array;
  topLogprobs: Float32Array;
  /**
   * Only when the (first) step had prompt targets: one row per token of it,
   * the target's logprob (NaN where none) and the top promptTopN (-1 / -inf
   * past a seq's own numPromptLogprobs).
   */
  promptTopN?: number;
  promptLogprob?: Float32Array; // [T]
  /** [T] the target's vocab rank: 1 + the tokens with a larger raw logit (0 where none). */
  promptRank?: Int32Array;
  promptTopIds?: Int32Array; // [T * promptTopN]
  promptTopLogprobs?: Float32Array;
  /**
   * Only when the (first) step asked for hidden states (embedRows): the
   * final-normed hidden state of each asked token, seq by seq in token
   * order, [rows * hiddenSize].
   */
  hidden?: Float32Array;
  timings: { forwardMs: number; sampleMs: number };
}

export type GgufJsValue = string | number | bigint | boolean | GgufJsValue[];
export interface GgufInfo {
  version: number;
  metadata: Record<string, GgufJsValue>;
  tensors: { name: string; dtype: string; shape: number[] }[];
}

/** exports.ops: single-kernel entry points owned by the kernels (typed loosely here). */
export type NativeOps = Readonly<Record<string, (...args: never[]) => unknown>>;

/** Shapes of one decode step for hipKernelTimes (native/hip/kernel_timing.h). */
export interface HipKernelTimesArgs {
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  /** Tokens the decode token attends to, itself included. */
  context: number;
  blockSize: number;
  dtype: NativeDType;
  /** Timed launches per kernel, after one warm-up launch. */
  iterations: number;
  /** > 0: bytes overwritten before each timed launch so weights come from memory, not the last-level cache. */
  flushBytes?: number;
}

export interface HipKernelTime {
  name: string;
  /** Mean over the timed launches. */
  meanMs: number;
  /** What the kernel must move and compute at these shapes (bench/ROOFLINE.md's accounting). */
  bytes: number;
  flops: number;
  /** Launches per layer of a decode step; perStep: launches once per step. */
  perLayer: number;
  perStep: number;
}

export interface HipKernelTimes {
  /** The device that ran them, "name (arch)" as the hip backend's probe reports it. */
  device: string;
  /** The libhipserve_hip.so that was used (HIPSERVE_HIP_LIB first). */
  library: string;
  deviceBytes: number;
  kernels: HipKernelTime[];
}
