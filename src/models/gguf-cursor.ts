// Bounds-checked reading of a GGUF file's header for gguf-reader.ts: a
// forward cursor over the file in chunks (every length and offset checked
// against the file's size before use) and the typed values and arrays of
// the metadata, arrays in two passes (first validated and stepped over,
// then read once everything checked out). Errors are GgufErrors naming the
// file and what was being read.
import { readSync } from 'node:fs';
import type { GgufArray, GgufScalarType, GgufValue } from './gguf-types.js';

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

const CHUNK = 1 << 20;

/** Reads forward through the file in chunks; every read is bounds-checked. */
export class Cursor {
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
export function skipArray(c: Cursor, depth: number): void {
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
export function readArray(c: Cursor, depth: number): GgufArray {
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
export function readValue(c: Cursor): GgufValue | null {
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
