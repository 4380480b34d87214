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
import type {
  AttentionBackendInfo,
  BackendInfo,
  GgufInfo,
  HipKernelTimes,
  HipKernelTimesArgs,
  KvCache,
  KvCacheHandle,
  LoadModelOptions,
  LoadedModel,
  ModelHandle,
  NativeOps,
  Step,
  StepOutput,
} from './native-types.js';

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

export * from './native-types.js';

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
  readWeights(model: ModelHandle, opts: ReadWeightsOptions): RawResult<WeightsRead>;
  forwardProgress(model: ModelHandle): RawResult<number>;
  hipKernelTimes(args: HipKernelTimesArgs): Promise<RawResult<HipKernelTimes>>;
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
 * How readWeights reads: the probe's four patterns (ops.readBandwidth tries
 * them all) over the matrices laid end to end, or 'tasks', in the batch-1
 * decode step's own GEMV tasks one after the other.
 */
export type ReadPattern = 'stream' | 'stream-prefetch' | 'chunks' | 'chunks-prefetch' | 'tasks';

export interface ReadWeightsOptions {
  /** Back-to-back reads timed as one: 1..100000. */
  passes: number;
  /**
   * 'stream' (default): one range per thread, as the decode GEMVs split; 'chunks': shared-counter chunks;
   * '-prefetch': a software prefetch 2 KiB ahead; 'tasks': the matrices in the batch-1 step's GEMV tasks
   * (q|k|v, o, gate|up, down per layer, then lm_head), each after the one before, one range per thread
   * within it (a decode step's reads and syncs without its arithmetic).
   */
  pattern?: ReadPattern;
}

export interface WeightsRead {
  /** Bytes of one pass: the matrices a decode step reads (layers' q, k, v, o, gate, up, down; lm_head). */
  bytes: number;
  seconds: number;
  gbPerSecond: number;
  checksum: number;
}

/**
 * Reads the model's own matrices `passes` times on its pool, as a decode
 * step would stream them, and times it: the roofline's bandwidth taken
 * between decode calls (bench/decode.ts). BUSY while a forward of the model
 * runs; runs on the calling thread.
 */
export function readWeights(model: ModelHandle, opts: ReadWeightsOptions): Result<WeightsRead, NativeError> {
  return wrap(() => loadAddon().readWeights(model, opts));
}

/**
 * A number that moves while a forward of the model runs (once per layer on
 * the CPU, once per step on a device) and stays put otherwise; only its
 * changes mean anything. Safe to call while a forward runs on the worker
 * thread: the engine's heartbeat reads it so that /health can tell a long
 * step from a wedged one.
 */
export function forwardProgress(model: ModelHandle): Result<number, NativeError> {
  return wrap(() => loadAddon().forwardProgress(model));
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
