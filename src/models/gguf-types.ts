// GGUF v3 value and tensor types, shared by the writer and the reader.
// Numbers are the on-disk type codes (gguf.h / gguf-py constants).

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

export const GGUF_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufNumberType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64';
export type GgufBigType = 'u64' | 'i64';
export type GgufScalarType = GgufNumberType | GgufBigType | 'bool' | 'string';

export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigType; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | GgufArray;

export type GgufArray =
  | { type: 'array'; itemType: GgufNumberType; items: readonly number[] }
  | { type: 'array'; itemType: GgufBigType; items: readonly bigint[] }
  | { type: 'array'; itemType: 'bool'; items: readonly boolean[] }
  | { type: 'array'; itemType: 'string'; items: readonly string[] }
  | { type: 'array'; itemType: 'array'; items: readonly GgufArray[] };

/** ggml tensor type codes for the dtypes hipserve reads. */
export const GGML_TYPE = { f32: 0, f16: 1, q8_0: 8, bf16: 30 } as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;

export function ggmlTypeName(code: number): GgmlTypeName | null {
  for (const [name, c] of Object.entries(GGML_TYPE)) if (c === code) return name as GgmlTypeName;
  return null;
}

// Small constructors so metadata tables read like the GGUF spec.
export const gguf = {
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  u64: (value: bigint): GgufValue => ({ type: 'u64', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  str: (value: string): GgufValue => ({ type: 'string', value }),
  strs: (items: readonly string[]): GgufValue => ({ type: 'array', itemType: 'string', items }),
  i32s: (items: readonly number[]): GgufValue => ({ type: 'array', itemType: 'i32', items }),
  f32s: (items: readonly number[]): GgufValue => ({ type: 'array', itemType: 'f32', items }),
};
