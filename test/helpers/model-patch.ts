// Byte-level patching of generated fixture files, for tests that corrupt
// one field of a GGUF or safetensors file and check the loaders' answer.

/** Where a GGUF metadata key's value type (u32) and value start in `buf`. */
export function ggufKey(buf: Buffer, key: string): { keyAt: number; typeAt: number; valueAt: number } {
  const k = Buffer.from(key, 'utf8');
  const needle = Buffer.alloc(8 + k.length);
  needle.writeBigUInt64LE(BigInt(k.length));
  k.copy(needle, 8);
  const keyAt = buf.indexOf(needle);
  if (keyAt < 0) throw new Error(`GGUF key ${key} not found`);
  const typeAt = keyAt + needle.length;
  return { keyAt, typeAt, valueAt: typeAt + 4 };
}

/** Offsets of a GGUF header's counts (u64 each). */
export const GGUF_TENSOR_COUNT_AT = 8;
export const GGUF_KV_COUNT_AT = 16;

export interface StTensor {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}
export type StHeader = Record<string, StTensor | Record<string, string>>;

export function splitSafetensors(buf: Buffer): { header: StHeader; data: Buffer } {
  const len = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as StHeader, data: buf.subarray(8 + len) };
}

/** A safetensors file; `headerLen` overrides the u64 length prefix (the header bytes are written as given). */
export function joinSafetensors(header: StHeader | string, data: Buffer, headerLen?: number): Buffer {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLen ?? h.length));
  return Buffer.concat([len, h, data]);
}
