// GGUF metadata reader for the TypeScript side (tokenizer, model info).
// Every length and offset read from the file is checked against the file's
// size before it is used, so a truncated or corrupted file gives a GgufError
// naming the file and the key or tensor being read, never a crash or a huge
// allocation. Arrays are read in two passes: the first walks the whole
// header (arrays are only validated and stepped over, so a corrupt count
// costs a walk, not an allocation), the second reads the arrays' items once
// everything checked out. The rules match the native loader
// (native/src/model/gguf.cc): no duplicate keys, tensor data in header
// order and nothing after the last tensor but its padding. Tensor data is
// not read; the native loader maps it.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, type GgufArray, type GgufScalarType, type GgufValue } from './gguf-types.js';

export class GgufError extends Error {
  readonly code = 'HIPSERVE_ERR_BAD_GGUF';
  constructor(
    readonly file: string,
    readonly at: string,
    detail: string,
  ) {
    super(`${file}: ${detail} (while reading ${at})`);
    this.name = 'GgufError';
  }
}

export interface GgufTensorInfo {
  name: string;
  /** Row-major shape, outermost first (the reverse of GGUF's ne). */
  shape: number[];
  /** ggml type code; typeName is null for types this table does not know. */
  type: number;
  typeName: string | null;
  /** Absolute byte offset of the data in the file, and its size (null for unknown types). */
  offset: number;
  size: number | null;
}

export interface GgufFile {
  path: string;
  version: number;
  fileSize: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  dataOffset: number;
}

// [name, elements per block, bytes per block] by ggml type code.
const GGML_TYPES: Record<number, [string, number, number]> = {
  0: ['f32', 1, 4],
  1: ['f16', 1, 2],
  2: ['q4_0', 32, 18],
  3: ['q4_1', 32, 20],
  6: ['q5_0', 32, 22],
  7: ['q5_1', 32, 24],
  8: ['q8_0', 32, 34],
  9: ['q8_1', 32, 36],
  10: ['q2_k', 256, 84],
  11: ['q3_k', 256, 110],
  12: ['q4_k', 256, 144],
  13: ['q5_k', 256, 176],
  14: ['q6_k', 256, 210],
  15: ['q8_k', 256, 292],
  24: ['i8', 1, 1],
  25: ['i16', 1, 2],
  26: ['i32', 1, 4],
  27: ['i64', 1, 8],
  28: ['f64', 1, 8],
  30: ['bf16', 1, 2],
};

const SCALAR_BY_CODE: Record<number, GgufScalarType> = {
  0: 'u8',
  1: 'i8',
  2: 'u16',
  3: 'i16',
  4: 'u32',
  5: 'i32',
  6: 'f32',
  7: 'bool',
  8: 'string',
  10: 'u64',
  11: 'i64',
  12: 'f64',
};
const SCALAR_SIZE: Record<GgufScalarType, number> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  string: 8,
  u64: 8,
  i64: 8,
  f64: 8,
};
const MAX_DIMS = 4;
const CHUNK = 1 << 20;

/** Reads forward through the file in chunks; every read is bounds-checked. */
class Cursor {
  pos = 0;
  at = 'header';
  private buf = Buffer.alloc(0);
  private bufStart = 0;

  constructor(
    private readonly fd: number,
    readonly path: string,
    readonly size: number,
  ) {}

  fail(detail: string): never {
    throw new GgufError(this.path, this.at, detail);
  }

  /** Makes [pos, pos + n) available in buf and returns its index there. */
  need(n: number): number {
    if (this.pos + n > this.size) {
      this.fail(`truncated: needs bytes ${String(this.pos)}..${String(this.pos + n)} but the file has ${String(this.size)}`);
    }
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) return rel;
    const len = Math.min(Math.max(n, CHUNK), this.size - this.pos);
    const next = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const r = readSync(this.fd, next, got, len - got, this.pos + got);
      if (r === 0) this.fail(`short read at byte ${String(this.pos + got)}`);
      got += r;
    }
    this.buf = next;
    this.bufStart = this.pos;
    return 0;
  }

  seek(pos: number): void {
    this.pos = pos;
  }

  /** Fails unless `count` items of at least `minSize` bytes each can fit in the rest of the file. */
  checkCount(count: bigint, minSize: number, what: string): number {
    const rest = BigInt(this.size - this.pos);
    if (count * BigInt(minSize) > rest) this.fail(`${what} count ${String(count)} does not fit in the ${String(rest)} bytes left`);
    return Number(count);
  }

  /** Steps over n bytes that must be in the file, without reading them. */
  skip(n: number): void {
    if (this.pos + n > this.size) {
      this.fail(`truncated: needs bytes ${String(this.pos)}..${String(this.pos + n)} but the file has ${String(this.size)}`);
    }
    this.pos += n;
  }
  /** Steps over a string (no BigInt, no decoding: walking millions stays cheap). */
  skipStr(): void {
    const i = this.need(8);
    const n = this.buf.readUInt32LE(i + 4) * 2 ** 32 + this.buf.readUInt32LE(i);
    this.pos += 8;
    // Past 2^53 n is rounded, but then it exceeds any file anyway.
    if (n > this.size - this.pos) this.checkCount(this.buf.readBigUInt64LE(i), 1, 'string byte');
    this.pos += n;
  }

  u8(): number {
    const i = this.need(1);
    this.pos += 1;
    return this.buf.readUInt8(i);
  }
  u32(): number {
    const i = this.need(4);
    this.pos += 4;
    return this.buf.readUInt32LE(i);
  }
  u64(): bigint {
    const i = this.need(8);
    this.pos += 8;
    return this.buf.readBigUInt64LE(i);
  }
  scalar(type: GgufScalarType): number | bigint | boolean | string {
    if (type === 'string') return this.str();
    if (type === 'bool') {
      const v = this.u8();
      if (v > 1) this.fail(`bool value ${String(v)} is neither 0 nor 1`);
      return v === 1;
    }
    const size = SCALAR_SIZE[type];
    const i = this.need(size);
    this.pos += size;
    const b = this.buf;
    switch (type) {
      case 'u8':
        return b.readUInt8(i);
      case 'i8':
        return b.readInt8(i);
      case 'u16':
        return b.readUInt16LE(i);
      case 'i16':
        return b.readInt16LE(i);
      case 'u32':
        return b.readUInt32LE(i);
      case 'i32':
        return b.readInt32LE(i);
      case 'f32':
        return b.readFloatLE(i);
      case 'f64':
        return b.readDoubleLE(i);
      case 'u64':
        return b.readBigUInt64LE(i);
      case 'i64':
        return b.readBigInt64LE(i);
    }
  }
  /** The `n` bytes at index i of the buffer need() returned. */
  bytesAt(i: number, n: number): Buffer {
    return this.buf.subarray(i, i + n);
  }
  str(): string {
    const n = this.checkCount(this.u64(), 1, 'string byte');
    const i = this.need(n);
    this.pos += n;
    return this.buf.toString('utf8', i, i + n);
  }
}

const MAX_DEPTH = 4;

/** First pass: validates an array (type, count, every item) and steps over it; nothing is kept. */
function skipArray(c: Cursor, depth: number): void {
  if (depth > MAX_DEPTH) c.fail('arrays nested too deeply');
  const code = c.u32();
  if (code === 9) {
    const n = c.checkCount(c.u64(), 12, 'array');
    for (let i = 0; i < n; i++) skipArray(c, depth + 1);
    return;
  }
  const itemType = SCALAR_BY_CODE[code] as GgufScalarType | undefined;
  if (itemType === undefined) c.fail(`unknown array item type ${String(code)}`);
  const n = c.checkCount(c.u64(), SCALAR_SIZE[itemType], 'array');
  if (itemType === 'string') {
    for (let i = 0; i < n; i++) c.skipStr();
  } else if (itemType === 'bool') {
    for (let i = 0; i < n; i++) c.scalar('bool'); // checks 0/1
  } else {
    c.skip(n * SCALAR_SIZE[itemType]);
  }
}

/** Second pass: the items of an array skipArray accepted (so every count fits in the file). */
function readArray(c: Cursor, depth: number): GgufArray {
  if (depth > MAX_DEPTH) c.fail('arrays nested too deeply');
  const code = c.u32();
  if (code === 9) {
    const n = c.checkCount(c.u64(), 12, 'array');
    const items: GgufArray[] = [];
    for (let i = 0; i < n; i++) items.push(readArray(c, depth + 1));
    return { type: 'array', itemType: 'array', items };
  }
  const itemType = SCALAR_BY_CODE[code] as GgufScalarType | undefined;
  if (itemType === undefined) c.fail(`unknown array item type ${String(code)}`);
  const n = c.checkCount(c.u64(), SCALAR_SIZE[itemType], 'array');
  const items: (number | bigint | boolean | string)[] = new Array<number | bigint | boolean | string>(n);
  if (itemType === 'string' || itemType === 'bool') {
    for (let i = 0; i < n; i++) items[i] = c.scalar(itemType);
  } else {
    // Numbers: one bounds-checked read of the whole block, then typed reads from it.
    const size = SCALAR_SIZE[itemType];
    const base = c.need(n * size);
    const bytes = c.bytesAt(base, n * size);
    c.pos += n * size;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const get: (o: number) => number | bigint = {
      u8: (o: number) => view.getUint8(o),
      i8: (o: number) => view.getInt8(o),
      u16: (o: number) => view.getUint16(o, true),
      i16: (o: number) => view.getInt16(o, true),
      u32: (o: number) => view.getUint32(o, true),
      i32: (o: number) => view.getInt32(o, true),
      f32: (o: number) => view.getFloat32(o, true),
      f64: (o: number) => view.getFloat64(o, true),
      u64: (o: number) => view.getBigUint64(o, true),
      i64: (o: number) => view.getBigInt64(o, true),
    }[itemType];
    for (let i = 0; i < n; i++) items[i] = get(i * size);
  }
  // The item type was checked above, so the items are of it.
  return { type: 'array', itemType, items } as GgufArray;
}

/** A scalar value, or (first pass) an array stepped over: null, to be read later from `start`. */
function readValue(c: Cursor): GgufValue | null {
  const code = c.u32();
  if (code === 9) {
    skipArray(c, 0);
    return null;
  }
  const type = SCALAR_BY_CODE[code] as GgufScalarType | undefined;
  if (type === undefined) c.fail(`unknown value type ${String(code)}`);
  // The value was read as `type`, so the pair is consistent.
  return { type, value: c.scalar(type) } as GgufValue;
}

/** Reads a GGUF v2/v3 file's header, metadata and tensor infos. Throws GgufError. */
export function readGguf(path: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new GgufError(path, 'open', (err as Error).message);
  }
  try {
    const size = fstatSync(fd).size;
    const c: Cursor = new Cursor(fd, path, size);
    if (c.u32() !== GGUF_MAGIC) c.fail('bad magic: not a GGUF file');
    const version = c.u32();
    if (version !== 2 && version !== 3) c.fail(`unsupported GGUF version ${String(version)}`);
    c.at = 'counts';
    const nTensors = c.checkCount(c.u64(), 24, 'tensor');
    const nKv = c.checkCount(c.u64(), 12, 'metadata');
    // Arrays hold a placeholder until the second pass; `arrays` says where to read them.
    const metadata = new Map<string, GgufValue>();
    const arrays: [string, number][] = [];
    let prevKey: string | null = null;
    for (let i = 0; i < nKv; i++) {
      // A bad key is often the previous value's fault (a corrupt array count): name both.
      c.at = `metadata entry ${String(i)}${prevKey === null ? '' : ` (after key ${prevKey})`}`;
      const key = c.str();
      prevKey = key;
      c.at = `metadata key ${key}`;
      // llama.cpp refuses duplicate keys too (and the native loader does).
      if (metadata.has(key)) c.fail('the key appears twice');
      const start = c.pos;
      const v = readValue(c);
      if (v === null) arrays.push([key, start]);
      metadata.set(key, v ?? { type: 'array', itemType: 'u8', items: [] });
    }
    const alignValue = metadata.get('general.alignment');
    let alignment = GGUF_DEFAULT_ALIGNMENT;
    if (alignValue !== undefined) {
      c.at = 'metadata key general.alignment';
      if (alignValue.type !== 'u32' || alignValue.value === 0 || (alignValue.value & (alignValue.value - 1)) !== 0) {
        c.fail('general.alignment must be a power-of-two u32');
      }
      alignment = alignValue.value;
    }
    const raw: { name: string; ne: number[]; type: number; rel: bigint }[] = [];
    for (let i = 0; i < nTensors; i++) {
      c.at = `tensor info ${String(i)}`;
      const name = c.str();
      c.at = `tensor ${name}`;
      const nDims = c.u32();
      if (nDims < 1 || nDims > MAX_DIMS) c.fail(`${String(nDims)} dimensions (1..${String(MAX_DIMS)} allowed)`);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const v = c.u64();
        if (v > BigInt(Number.MAX_SAFE_INTEGER)) c.fail(`dimension ${String(v)} is too large`);
        ne.push(Number(v));
      }
      raw.push({ name, ne, type: c.u32(), rel: c.u64() });
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    // llama.cpp's layout rule: each tensor's data starts where the previous
    // one's, padded to the alignment, ends, in header order (checked while
    // every size so far is known).
    let expect = 0;
    let dataEnd = dataOffset;
    let layoutKnown = true;
    const names = new Set<string>();
    const tensors: GgufTensorInfo[] = [];
    for (const t of raw) {
      c.at = `tensor ${t.name}`;
      if (names.has(t.name)) c.fail('the tensor is defined twice');
      names.add(t.name);
      const info = GGML_TYPES[t.type] as [string, number, number] | undefined;
      const elements = t.ne.reduce((a, b) => a * b, 1);
      let bytes: number | null = null;
      if (info) {
        const [, blockElems, blockBytes] = info;
        if ((t.ne[0] ?? 0) % blockElems !== 0) c.fail(`row of ${String(t.ne[0])} is not a multiple of the ${info[0]} block (${String(blockElems)})`);
        bytes = (elements / blockElems) * blockBytes;
      }
      if (t.rel % BigInt(alignment) !== 0n) c.fail(`data offset ${String(t.rel)} is not aligned to ${String(alignment)}`);
      const offset = dataOffset + Number(t.rel);
      if (offset > size || (bytes !== null && offset + bytes > size)) {
        c.fail(`data at ${String(offset)}..${String(offset + (bytes ?? 0))} runs past the end of the file (${String(size)} bytes)`);
      }
      layoutKnown = layoutKnown && bytes !== null;
      if (layoutKnown && bytes !== null) {
        if (t.rel !== BigInt(expect)) {
          c.fail(`data offset ${String(t.rel)}, expected ${String(expect)} (tensor data must follow in header order): a corrupt offset or tensor info`);
        }
        dataEnd = offset + bytes;
        expect += bytes + ((alignment - (bytes % alignment)) % alignment);
      }
      tensors.push({ name: t.name, shape: [...t.ne].reverse(), type: t.type, typeName: info ? info[0] : null, offset, size: bytes });
    }
    // Only the last tensor's padding may follow its data: more means tensors
    // the header does not list (a wrong tensor_count) or shifted data.
    if (layoutKnown && tensors.length > 0 && size - dataEnd >= alignment) {
      c.at = 'header field tensor_count';
      c.fail(
        `tensor_count ${String(nTensors)}: the tensor data ends at byte ${String(dataEnd)} but the file has ${String(size)} ` +
          `(${String(size - dataEnd)} bytes unaccounted for): a tensor info is missing or the file is corrupt`,
      );
    }
    // Second pass: the whole header checked out, so the arrays' counts are real.
    for (const [key, start] of arrays) {
      c.at = `metadata key ${key}`;
      c.seek(start);
      c.u32(); // the value type (array)
      metadata.set(key, readArray(c, 0));
    }
    return { path, version, fileSize: size, alignment, metadata, tensors, dataOffset };
  } finally {
    closeSync(fd);
  }
}

/** Typed access to metadata with errors that name the file and key. */
export class GgufMetadata {
  constructor(readonly file: GgufFile) {}

  private err(key: string, detail: string): GgufError {
    return new GgufError(this.file.path, `metadata key ${key}`, detail);
  }
  has(key: string): boolean {
    return this.file.metadata.has(key);
  }
  number(key: string, fallback?: number): number {
    const v = this.file.metadata.get(key);
    if (v === undefined) {
      if (fallback === undefined) throw this.err(key, 'missing');
      return fallback;
    }
    if (v.type === 'array' || v.type === 'string' || v.type === 'bool') throw this.err(key, `expected a number, found ${v.type}`);
    return typeof v.value === 'bigint' ? Number(v.value) : v.value;
  }
  optionalNumber(key: string): number | null {
    return this.has(key) ? this.number(key) : null;
  }
  string(key: string): string;
  string(key: string, fallback: string | null): string | null;
  string(key: string, fallback?: string | null): string | null {
    const v = this.file.metadata.get(key);
    if (v === undefined) {
      if (fallback === undefined) throw this.err(key, 'missing');
      return fallback;
    }
    if (v.type !== 'string') throw this.err(key, `expected a string, found ${v.type}`);
    return v.value;
  }
  bool(key: string, fallback: boolean): boolean {
    const v = this.file.metadata.get(key);
    if (v === undefined) return fallback;
    if (v.type !== 'bool') throw this.err(key, `expected a bool, found ${v.type}`);
    return v.value;
  }
  strings(key: string): readonly string[] {
    const v = this.file.metadata.get(key);
    if (v === undefined) throw this.err(key, 'missing');
    if (v.type !== 'array' || v.itemType !== 'string') throw this.err(key, 'expected an array of strings');
    return v.items;
  }
  numbers(key: string): readonly number[] | null {
    const v = this.file.metadata.get(key);
    if (v === undefined) return null;
    if (v.type !== 'array') throw this.err(key, 'expected an array of numbers');
    if (v.itemType === 'string' || v.itemType === 'bool' || v.itemType === 'array') throw this.err(key, 'expected an array of numbers');
    return (v.items as readonly (number | bigint)[]).map(Number);
  }
}
