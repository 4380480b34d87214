// f32 values to the bytes of each weight dtype the writers support, rounded
// exactly as the references do: f16/bf16 round to nearest even (torch,
// numpy, F16C), Q8_0 as llama.cpp's quantize_row_q8_0_ref and gguf-py.

export type WeightDType = 'f32' | 'f16' | 'bf16' | 'q8_0';

export const Q8_BLOCK = 32;
const Q8_BLOCK_BYTES = 34;

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

export function f32ToF16Bits(v: number): number {
  scratchF[0] = v;
  const x = scratchU[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: value / 2^-24, rounded to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) !== 0)) half++;
    return sign | half;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
  return sign | h;
}

export function f16BitsToF32(h: number): number {
  const sign = (h & 0x8000) !== 0 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function f32ToBf16Bits(v: number): number {
  scratchF[0] = v;
  const u = scratchU[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  scratchU[0] = (h & 0xffff) << 16;
  return scratchF[0];
}

/** The value a weight holds once stored in `dtype` (Q8_0 is per block, see quantizeQ8_0). */
export function roundTo(dtype: 'f32' | 'f16' | 'bf16', values: Float32Array): Float32Array {
  if (dtype === 'f32') return values;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = dtype === 'f16' ? f16BitsToF32(f32ToF16Bits(v)) : bf16BitsToF32(f32ToBf16Bits(v));
  }
  return out;
}

/** Bytes of `count` elements of a row of `dtype`. */
export function dtypeBytes(dtype: WeightDType, count: number): number {
  switch (dtype) {
    case 'f32':
      return count * 4;
    case 'f16':
    case 'bf16':
      return count * 2;
    case 'q8_0':
      if (count % Q8_BLOCK !== 0) throw new Error(`q8_0 needs a multiple of ${String(Q8_BLOCK)} elements per row, got ${String(count)}`);
      return (count / Q8_BLOCK) * Q8_BLOCK_BYTES;
  }
}

/** Encodes row-major values (`cols` per row) into the file bytes of `dtype`. */
export function encode(dtype: WeightDType, values: Float32Array, cols: number): Uint8Array {
  switch (dtype) {
    case 'f32':
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case 'f16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
      return new Uint8Array(out.buffer);
    }
    case 'bf16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = f32ToBf16Bits(values[i]);
      return new Uint8Array(out.buffer);
    }
    case 'q8_0':
      return quantizeQ8_0(values, cols);
  }
}

// roundf(): halves away from zero (Math.round sends -2.5 to -2).
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * Q8_0 as llama.cpp's reference: per block of 32, d = amax / 127 in f32,
 * q = roundf(x * (1/d)), d stored as f16. Rows never share a block.
 */
export function quantizeQ8_0(values: Float32Array, cols: number): Uint8Array {
  if (cols % Q8_BLOCK !== 0 || values.length % cols !== 0) {
    throw new Error(`q8_0: row length ${String(cols)} is not a multiple of ${String(Q8_BLOCK)}`);
  }
  const nBlocks = values.length / Q8_BLOCK;
  const out = new Uint8Array(nBlocks * Q8_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  const q = new Int8Array(out.buffer);
  for (let b = 0; b < nBlocks; b++) {
    const base = b * Q8_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_BLOCK; j++) amax = Math.max(amax, Math.abs(values[base + j]));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = b * Q8_BLOCK_BYTES;
    view.setUint16(o, f32ToF16Bits(d), true);
    for (let j = 0; j < Q8_BLOCK; j++) q[o + 2 + j] = roundf(Math.fround(values[base + j] * id));
  }
  return out;
}

/** Values a Q8_0 encoding decodes to (f16 scale times int8), for references in tests. */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  const nBlocks = bytes.length / Q8_BLOCK_BYTES;
  const out = new Float32Array(nBlocks * Q8_BLOCK);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q8_BLOCK_BYTES;
    const d = f16BitsToF32(view.getUint16(o, true));
    for (let j = 0; j < Q8_BLOCK; j++) out[b * Q8_BLOCK + j] = d * view.getInt8(o + 2 + j);
  }
  return out;
}
