// The one loader of the native addon and the typed surface over it.
//
// Every export of the addon returns { ok, value } / { ok: false, error }; the
// wrappers here turn the error into a NativeError whose stack is the
// JavaScript caller's (the Error is created before the native call, then the
// native message is copied onto it). A wrong argument *type* throws a
// TypeError from the addon at once: that is a bug in the caller.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

/** The codes of native/src/result.h (HIPSERVE_E_UNKNOWN_<n> for a code this file does not know). */
export type NativeErrorCode =
  | 'HIPSERVE_E_INVALID_ARGUMENT'
  | 'HIPSERVE_E_NOT_FOUND'
  | 'HIPSERVE_E_IO'
  | 'HIPSERVE_E_BAD_FORMAT'
  | 'HIPSERVE_E_UNSUPPORTED'
  | 'HIPSERVE_E_OUT_OF_MEMORY'
  | 'HIPSERVE_E_DEVICE'
  | 'HIPSERVE_E_UNAVAILABLE'
  | 'HIPSERVE_E_INTERNAL'
  | 'HIPSERVE_E_BUSY'
  | `HIPSERVE_E_UNKNOWN_${number}`;

interface RawError {
  code: string;
  message: string;
  where: string;
}
type RawResult<T> = { ok: true; value: T } | { ok: false; error: RawError };

export class NativeError extends Error {
  code: NativeErrorCode = 'HIPSERVE_E_INTERNAL';
  /** The operation, or the file and tensor, the failure belongs to. */
  where = '';

  constructor() {
    super('native call failed');
    this.name = 'NativeError';
  }

  fill(raw: RawError): this {
    this.code = raw.code as NativeErrorCode;
    this.where = raw.where;
    this.message = raw.where === '' ? raw.message : `${raw.message} (${raw.where})`;
    return this;
  }
}

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
}

export interface StepOutput {
  /** [S] token id, -1 where doSample[i] == 0. */
  sampled: Int32Array;
  /** [S] logprob of the sampled token, NaN where not asked. */
  logprob: Float32Array;
  topN: number;
  /** [S * topN] best first; -1 past a sequence's numLogprobs. */
  topIds: Int32Array;
  topLogprobs: Float32Array;
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

/** The raw addon as the C++ side registers it. */
export interface RawAddon {
  abiVersion: number;
  ops: NativeOps;
  listBackends(): RawResult<BackendInfo[]>;
  listAttentionBackends(): RawResult<AttentionBackendInfo[]>;
  loadModel(path: string, opts?: LoadModelOptions): Promise<RawResult<LoadedModel>>;
  releaseModel(handle: ModelHandle): RawResult<boolean>;
  ggufMetadata(path: string): RawResult<GgufInfo>;
  kvBytesPerBlock(handle: ModelHandle, blockSize: number): RawResult<number>;
  createKvCache(handle: ModelHandle, opts: { numBlocks: number; blockSize: number }): RawResult<KvCache>;
  releaseKvCache(handle: KvCacheHandle): RawResult<boolean>;
  forward(model: ModelHandle, kv: KvCacheHandle, step: Step): Promise<RawResult<StepOutput>>;
  forwardSync(model: ModelHandle, kv: KvCacheHandle, step: Step): RawResult<StepOutput>;
  hipKernelTimes(args: HipKernelTimesArgs): Promise<RawResult<HipKernelTimes>>;
}

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

// ---- loading ----------------------------------------------------------------

/** The package root: the nearest folder above this file holding package.json (src/ under tsx, dist/src/ after tsc). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`hipserve: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Candidate addon paths in the order they are tried. */
export function addonCandidates(): string[] {
  const root = packageRoot();
  const out: string[] = [];
  const env = process.env.HIPSERVE_ADDON;
  if (env !== undefined && env !== '') out.push(env);
  out.push(join(root, 'build', 'Release', 'hipserve.node'), join(root, 'build', 'Debug', 'hipserve.node'));
  return out;
}

let cached: RawAddon | undefined;

/** Loads the addon once; throws one Error listing every attempt when none loads. */
export function loadAddon(): RawAddon {
  if (cached !== undefined) return cached;
  const require = createRequire(import.meta.url);
  const attempts: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      attempts.push(`  ${path}: not found`);
      continue;
    }
    try {
      cached = require(path) as RawAddon;
      return cached;
    } catch (e) {
      attempts.push(`  ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new Error(
    'hipserve: the native addon could not be loaded. Tried:\n' +
      attempts.join('\n') +
      '\nBuild it with `npm ci` (or `npm run build` in a checkout); that needs cmake >= 3.18 and a C++17 compiler ' +
      '(g++ or clang++). HIPSERVE_ADDON=/path/to/hipserve.node overrides the search.',
  );
}

function wrap<T>(run: () => RawResult<T>): Result<T, NativeError> {
  const r = run();
  // Made only on failure (a stack capture costs microseconds per call); the
  // stack is still the JavaScript caller's, the call being synchronous.
  return r.ok ? { ok: true, value: r.value } : { ok: false, error: new NativeError().fill(r.error) };
}

// Not an async function on purpose: a TypeError from the addon (a wrong
// argument type) is thrown synchronously to the caller, not turned into a rejection.
function wrapAsync<T>(run: () => Promise<RawResult<T>>): Promise<Result<T, NativeError>> {
  const err = new NativeError();
  return run().then((r) => (r.ok ? { ok: true, value: r.value } : { ok: false, error: err.fill(r.error) }));
}

// ---- typed wrappers -----------------------------------------------------------

export function listBackends(): Result<BackendInfo[], NativeError> {
  return wrap(() => loadAddon().listBackends());
}

export function listAttentionBackends(): Result<AttentionBackendInfo[], NativeError> {
  return wrap(() => loadAddon().listAttentionBackends());
}

/** `path`: a Hugging Face directory (config.json + safetensors) or a .gguf file. */
export function loadModel(path: string, opts: LoadModelOptions = {}): Promise<Result<LoadedModel, NativeError>> {
  return wrapAsync(() => loadAddon().loadModel(path, opts));
}

/** Drops the model; an in-flight forward keeps its weights mapped until it ends. Value: whether it was still held. */
export function releaseModel(handle: ModelHandle): Result<boolean, NativeError> {
  return wrap(() => loadAddon().releaseModel(handle));
}

/** Every metadata key/value (arrays as arrays) and tensor of a GGUF file. */
export function ggufMetadata(path: string): Result<GgufInfo, NativeError> {
  return wrap(() => loadAddon().ggufMetadata(path));
}

export function kvBytesPerBlock(handle: ModelHandle, blockSize: number): Result<number, NativeError> {
  return wrap(() => loadAddon().kvBytesPerBlock(handle, blockSize));
}

/** Block 0 is the null block; OUT_OF_MEMORY when the pool cannot be allocated. */
export function createKvCache(handle: ModelHandle, opts: { numBlocks: number; blockSize: number }): Result<KvCache, NativeError> {
  return wrap(() => loadAddon().createKvCache(handle, opts));
}

export function releaseKvCache(handle: KvCacheHandle): Result<boolean, NativeError> {
  return wrap(() => loadAddon().releaseKvCache(handle));
}

/**
 * One step over the paged cache. One forward at a time per model: a second
 * call while one runs resolves at once with HIPSERVE_E_BUSY (it does not wait).
 */
export function forward(model: ModelHandle, kv: KvCacheHandle, step: Step): Promise<Result<StepOutput, NativeError>> {
  return wrapAsync(() => loadAddon().forward(model, kv, step));
}

/**
 * The same step run on the calling thread: blocks the event loop until the
 * step is done. Faster than forward() for short steps on a CPU model (no
 * worker-thread hand-off, no third thread competing for the cores); see
 * src/runner/forward-policy.ts for when the engine uses it.
 */
export function forwardSync(model: ModelHandle, kv: KvCacheHandle, step: Step): Result<StepOutput, NativeError> {
  return wrap(() => loadAddon().forwardSync(model, kv, step));
}

/**
 * Times each kernel of one batch-1 decode step on the `hip` device's library
 * (the same lookup, HIPSERVE_HIP_LIB first). UNAVAILABLE without a library or
 * a GPU; INVALID_ARGUMENT for shapes the kernels cannot take. On the emulator
 * library (libhipserve_hip_emu.so) the times mean nothing.
 */
export function hipKernelTimes(args: HipKernelTimesArgs): Promise<Result<HipKernelTimes, NativeError>> {
  return wrapAsync(() => loadAddon().hipKernelTimes(args));
}

/** The raw kernel entry points (exports.ops), for kernel tests and benches. */
export function ops(): NativeOps {
  return loadAddon().ops;
}
