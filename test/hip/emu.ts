// exports.hipEmu (the HIP emulator running kernels/*.hip) from the addon the
// one loader (src/native.ts, HIPSERVE_ADDON first) finds, and the helpers the
// HIP tests share.
import type { AttentionArgs, DTypeName, OpResult, RopeParamsJs, SampleArgs, SampleOut } from '../native/kernels-addon.js';
import { loadAddon } from '../../src/native.js';

export interface EmuDeviceInfo {
  deviceCount: number;
  name: string;
  gcnArchName: string;
  warpSize: number;
  totalGlobalMem: number;
  bytesInUse: number;
}

export interface EmuAttentionArgs extends AttentionArgs {
  mode: 'decode' | 'prefill';
  blocksPerSplit?: number;
}

/** rocBLAS gemm_ex operands, column-major, f32. */
export interface GemmExArgs {
  transA: 'N' | 'T';
  transB: 'N' | 'T';
  m: number;
  n: number;
  k: number;
  alpha: number;
  a: Float32Array;
  lda: number;
  b: Float32Array;
  ldb: number;
  beta: number;
  c: Float32Array;
  ldc: number;
}

export interface HipEmu {
  setWaveSize(lanes: number): OpResult<number>;
  deviceInfo(): OpResult<EmuDeviceInfo>;
  iota(n: number, allocElems: number): OpResult<Int32Array>;
  rmsnorm(x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): OpResult<Float32Array>;
  rope(x: Float32Array, positions: Int32Array, nHeads: number, headDim: number, params: RopeParamsJs): OpResult<Float32Array>;
  siluMul(gate: Float32Array, up: Float32Array): OpResult<Float32Array>;
  add(y: Float32Array, x: Float32Array): OpResult<Float32Array>;
  addBias(x: Float32Array, bias: Float32Array, rows: number, cols: number): OpResult<Float32Array>;
  embed(table: Uint8Array, dtype: DTypeName, rows: number, cols: number, ids: Int32Array): OpResult<Float32Array>;
  gemv(x: Float32Array, M: number, K: number, w: Uint8Array, dtype: DTypeName, N: number): OpResult<Float32Array>;
  sample(args: SampleArgs): OpResult<SampleOut>;
  probe(kind: 'wave' | 'sharedOob' | 'badBarrier', blocks: number, threads: number): OpResult<Int32Array>;
  gemmEx(args: GemmExArgs): OpResult<Float32Array>;
  gemmRowMajor(x: Float32Array, M: number, K: number, w: Uint8Array, dtype: DTypeName, N: number, path: 'rocblas' | 'tiled'): OpResult<Float32Array>;
  pagedAttention(args: EmuAttentionArgs): OpResult<{ out: Float32Array; kCache: Float32Array; vCache: Float32Array }>;
}

/** undefined when the addon was built without `hs::RegisterHipEmu` in addon.cc. */
export const hipEmu = (loadAddon() as unknown as { hipEmu?: HipEmu }).hipEmu;
export const missingReason = 'the addon has no exports.hipEmu (addon.cc lacks hs::RegisterHipEmu)';

export const WAVES = [64, 32] as const;

/** Runs fn with the emulator's wavefront width set to `lanes`, restoring 64 after. */
export function atWave(emu: HipEmu, lanes: number, fn: () => void): void {
  const r = emu.setWaveSize(lanes);
  if (!r.ok) throw new Error(r.error.message);
  try {
    fn();
  } finally {
    emu.setWaveSize(64);
  }
}

/** Largest |a - b| / (atol + rtol * |b|) over the arrays: <= 1 means close. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue; // also equal infinities
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Infinity;
    worst = Math.max(worst, d / (atol + rtol * Math.abs(b[i])));
  }
  return worst;
}
