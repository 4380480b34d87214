// Plain scalar references for the CPU kernels, in float64 unless a step of
// the kernel's contract is itself a float32 rounding (then Math.fround).
// Deliberately naive: one loop per formula, no tiling, no SIMD.

export type DType = 'f32' | 'f16' | 'bf16' | 'q8_0';

// ---- random inputs ----

// mulberry32: small seeded PRNG so failures reproduce.
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

// ---- f16 / bf16 ----

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export const roundHalfEven = (v: number): number => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

// Round to nearest even: a multiple of the f16 quantum of x's binade.
export function f32ToF16(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  const sign = (u >>> 16) & 0x8000;
  const a = Math.abs(f32buf[0]);
  if (Number.isNaN(a)) return sign | 0x7e00;
  if (a === 0) return sign;
  const e = ((u >>> 23) & 0xff) - 127;
  const q = 2 ** (Math.max(e, -14) - 10);
  const v = roundHalfEven(a / q) * q;
  if (v > 65504) return sign | 0x7c00;
  return sign | f16Bits(v);
}

function f16Bits(a: number): number {
  if (a < 2 ** -14) return Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return ((e + 15) << 10) | m;
}

export function bf16ToF32(h: number): number {
  u32buf[0] = h << 16;
  return f32buf[0];
}

export function f32ToBf16(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---- file layouts ----

export function rowBytes(t: DType, n: number): number {
  return t === 'f32' ? 4 * n : t === 'q8_0' ? (n / 32) * 34 : 2 * n;
}

// GGUF Q8_0: d = amax/127 (stored f16), q = round half away from zero of x/d.
export function quantize(t: DType, x: Float32Array): Uint8Array {
  const out = new Uint8Array(rowBytes(t, x.length));
  const dv = new DataView(out.buffer);
  if (t === 'f32') new Float32Array(out.buffer).set(x);
  else if (t === 'f16') for (let i = 0; i < x.length; i++) dv.setUint16(2 * i, f32ToF16(x[i]), true);
  else if (t === 'bf16') for (let i = 0; i < x.length; i++) dv.setUint16(2 * i, f32ToBf16(x[i]), true);
  else {
    for (let b = 0; b < x.length / 32; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
      const d = Math.fround(amax / 127);
      const id = d !== 0 ? Math.fround(1 / d) : 0;
      dv.setUint16(b * 34, f32ToF16(d), true);
      for (let i = 0; i < 32; i++) {
        const v = Math.fround(x[b * 32 + i] * id);
        dv.setInt8(b * 34 + 2 + i, Math.sign(v) * Math.round(Math.abs(v)));
      }
    }
  }
  return out;
}

export function dequantize(t: DType, bytes: Uint8Array, n: number): Float64Array {
  const out = new Float64Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    if (t === 'f32') out[i] = dv.getFloat32(4 * i, true);
    else if (t === 'f16') out[i] = f16ToF32(dv.getUint16(2 * i, true));
    else if (t === 'bf16') out[i] = bf16ToF32(dv.getUint16(2 * i, true));
    else {
      const b = Math.floor(i / 32);
      out[i] = f16ToF32(dv.getUint16(b * 34, true)) * dv.getInt8(b * 34 + 2 + (i % 32));
    }
  }
  return out;
}

// ---- matmul ----

// y[m][n] = sum_k x[m][k] w[n][k] in float64, plus sum_k |x w| for bounds.
export function matmulRef(x: Float32Array, M: number, K: number, w: Float64Array, N: number) {
  const y = new Float64Array(M * N);
  const mag = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      let a = 0;
      for (let k = 0; k < K; k++) {
        const p = x[m * K + k] * w[n * K + k];
        s += p;
        a += Math.abs(p);
      }
      y[m * N + n] = s;
      mag[m * N + n] = a;
    }
  }
  return { y, mag };
}

// The Q8_0 kernels' contract: each activation row is quantized to int8
// blocks as llama.cpp does (d = amax/127 stored as f16, q = round-half-even(x * 127/amax)), each block
// pair gives an exact integer dot scaled by fround(dw * dx).
export function matmulQ8Ref(x: Float32Array, M: number, K: number, w: Uint8Array, N: number) {
  const nb = K / 32;
  const dv = new DataView(w.buffer, w.byteOffset, w.byteLength);
  const xq = new Int8Array(M * K);
  const xd = new Float64Array(M * nb);
  const xdErr = new Float64Array(M * nb); // bound on one activation's rounding in block b
  for (let m = 0; m < M; m++) {
    for (let b = 0; b < nb; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[m * K + b * 32 + i]));
      // llama.cpp's scheme: scale by 127/amax, store the scale amax/127 as f16.
      const d = f16ToF32(f32ToF16(Math.fround(amax / 127)));
      const id = amax !== 0 ? Math.fround(127 / amax) : 0;
      xd[m * nb + b] = d;
      xdErr[m * nb + b] = amax / 254 + 127 * Math.abs(d - amax / 127); // |x - q * d| <= this
      for (let i = 0; i < 32; i++) xq[m * K + b * 32 + i] = roundHalfEven(Math.fround(x[m * K + b * 32 + i] * id));
    }
  }
  const y = new Float64Array(M * N);
  const mag = new Float64Array(M * N); // sum over blocks of |scale * integer dot terms|
  const actErr = new Float64Array(M * N); // bound on the activation rounding: sum |w| * xdErr
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0, a = 0, e = 0;
      for (let b = 0; b < nb; b++) {
        const dw = f16ToF32(dv.getUint16((n * nb + b) * 34, true));
        const scale = Math.fround(dw * xd[m * nb + b]);
        let dot = 0, adot = 0, aw = 0;
        for (let i = 0; i < 32; i++) {
          const q = dv.getInt8((n * nb + b) * 34 + 2 + i);
          dot += q * xq[m * K + b * 32 + i];
          adot += Math.abs(q * xq[m * K + b * 32 + i]);
          aw += Math.abs(q * dw);
        }
        s += scale * dot;
        a += Math.abs(scale) * adot;
        e += aw * xdErr[m * nb + b];
      }
      y[m * N + n] = s;
      mag[m * N + n] = a;
      actErr[m * N + n] = e;
    }
  }
  return { y, mag, actErr };
}

// ---- element-wise ----

export function rmsnormRef(x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number): Float64Array {
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i] ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i] * inv * w[i];
  }
  return y;
}

export interface RopeRefParams {
  theta: number;
  style: 'neox' | 'interleaved';
  rotaryDim?: number;
  llama3?: { factor: number; low: number; high: number; originalMaxPos: number };
}

// HF's rotary embedding (+ _compute_llama3_parameters), f64 throughout.
export function ropeRef(x: Float32Array, pos: Int32Array, H: number, D: number, p: RopeRefParams): Float64Array {
  const rd = p.rotaryDim && p.rotaryDim > 0 ? p.rotaryDim : D;
  const half = rd / 2;
  const freq: number[] = [];
  for (let i = 0; i < half; i++) {
    let f = 1 / p.theta ** ((2 * i) / rd);
    if (p.llama3) {
      const { factor, low, high, originalMaxPos } = p.llama3;
      const wl = (2 * Math.PI) / f;
      if (wl > originalMaxPos / low) f = f / factor;
      else if (wl >= originalMaxPos / high) {
        const smooth = (originalMaxPos / wl - low) / (high - low);
        f = ((1 - smooth) * f) / factor + smooth * f;
      }
    }
    freq.push(f);
  }
  const y = Float64Array.from(x);
  for (let t = 0; t < pos.length; t++) {
    for (let h = 0; h < H; h++) {
      const o = (t * H + h) * D;
      for (let i = 0; i < half; i++) {
        const c = Math.cos(pos[t] * freq[i]), s = Math.sin(pos[t] * freq[i]);
        const [ia, ib] = p.style === 'neox' ? [i, i + half] : [2 * i, 2 * i + 1];
        const a = x[o + ia], b = x[o + ib];
        y[o + ia] = a * c - b * s;
        y[o + ib] = b * c + a * s;
      }
    }
  }
  return y;
}

export function siluMulRef(g: Float32Array, u: Float32Array): Float64Array {
  return Float64Array.from(g, (v, i) => (v / (1 + Math.exp(-v))) * u[i]);
}

// ---- attention: dense causal softmax per (token, head) ----

export interface DenseSeq {
  k: Float32Array[]; // per position [nKv * D]
  v: Float32Array[];
}

export function attentionRef(
  q: Float32Array, tokenSeq: number[], positions: Int32Array, seqs: DenseSeq[],
  H: number, KVH: number, D: number, scale: number,
): Float64Array {
  const out = new Float64Array(q.length);
  const g = H / KVH;
  for (let t = 0; t < tokenSeq.length; t++) {
    const s = seqs[tokenSeq[t]];
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / g);
      const scores: number[] = [];
      for (let j = 0; j <= positions[t]; j++) {
        let d = 0;
        for (let i = 0; i < D; i++) d += q[(t * H + h) * D + i] * s.k[j][kvh * D + i];
        scores.push(d * scale);
      }
      const mx = Math.max(...scores);
      const e = scores.map((v) => Math.exp(v - mx));
      const z = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < D; i++) {
        let acc = 0;
        for (let j = 0; j < e.length; j++) acc += e[j] * s.v[j][kvh * D + i];
        out[(t * H + h) * D + i] = acc / z;
      }
    }
  }
  return out;
}

// ---- sampling ----

// Philox-4x32-10 (Random123), key = seed, counter = (counter, 0, 0);
// uniform = top 24 bits of the first output word / 2^24.
export function philoxRef(seed: bigint, counter: number): number {
  const mask = 0xffffffffn;
  let c0 = BigInt(counter) & mask, c1 = (BigInt(counter) >> 32n) & mask, c2 = 0n, c3 = 0n;
  let k0 = seed & mask, k1 = (seed >> 32n) & mask;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + 0x9e3779b9n) & mask;
      k1 = (k1 + 0xbb67ae85n) & mask;
    }
    const p0 = 0xd2511f53n * c0, p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & mask, p1 & mask, ((p0 >> 32n) ^ c3 ^ k1) & mask, p0 & mask];
  }
  return Number(c0 >> 8n) / 16777216;
}

export function logSoftmax(x: Float32Array | Float64Array): Float64Array {
  const mx = Math.max(...x);
  let z = 0;
  for (const v of x) z += Math.exp(v - mx);
  const lse = mx + Math.log(z);
  return Float64Array.from(x, (v) => v - lse);
}

export interface PenaltyParams {
  presence: number;
  frequency: number;
  repetition: number;
  output: number[];
  prompt: number[];
  banned: number[];
  /** logit_bias as [token id, value] pairs, ids distinct. */
  bias?: [number, number][];
}

// banned -> logit bias (added) -> repetition (HF: prompt + output, each distinct token once) ->
// frequency/presence (OpenAI: counts in the output), in f32 like the kernel.
export function penalizedRef(logits: Float32Array, p: PenaltyParams): Float32Array {
  const l = Float32Array.from(logits);
  for (const b of p.banned) l[b] = -Infinity;
  // The kernel gets every parameter as an f32: round them as the step's Float32Arrays do.
  for (const [id, v] of p.bias ?? []) l[id] = Math.fround(l[id] + Math.fround(v));
  const rep = Math.fround(p.repetition);
  if (p.repetition !== 1) {
    for (const t of new Set([...p.prompt, ...p.output])) {
      l[t] = l[t] > 0 ? Math.fround(l[t] / rep) : Math.fround(l[t] * rep);
    }
  }
  const counts = new Map<number, number>();
  for (const t of p.output) counts.set(t, (counts.get(t) ?? 0) + 1);
  if (p.presence !== 0 || p.frequency !== 0) {
    const freq = Math.fround(p.frequency), pres = Math.fround(p.presence);
    for (const [t, c] of counts) l[t] = Math.fround(l[t] - Math.fround(Math.fround(c * freq) + pres));
  }
  return l;
}

// Tokens that may be drawn after temperature -> top-k -> top-p -> min-p
// (ties go to the lower id). Returns the set and each survivor's probability.
export function survivorsRef(scaled: Float32Array, topK: number, topP: number, minP: number): Map<number, number> {
  const ids = [...scaled.keys()].filter((i) => scaled[i] > -Infinity);
  ids.sort((a, b) => scaled[b] - scaled[a] || a - b);
  let keep = topK > 0 ? ids.slice(0, topK) : ids;
  const mx = scaled[keep[0]];
  if (topP < 1) {
    const e = keep.map((i) => Math.exp(scaled[i] - mx));
    const z = e.reduce((a, b) => a + b, 0);
    let cum = 0;
    let n = keep.length;
    for (let i = 0; i < keep.length; i++) {
      cum += e[i];
      if (cum >= topP * z) {
        n = i + 1;
        break;
      }
    }
    keep = keep.slice(0, n);
  }
  if (minP > 0) keep = keep.filter((i) => scaled[i] >= mx + Math.log(minP));
  const z = keep.reduce((a, i) => a + Math.exp(scaled[i] - mx), 0);
  return new Map(keep.map((i) => [i, Math.exp(scaled[i] - mx) / z]));
}
