// GGUF v3 writer: header, metadata key/values (every scalar type, arrays,
// arrays of strings), tensor infos with dims innermost first (a row-major
// [rows][cols] matrix has ne = [cols, rows]), data aligned to
// general.alignment (32 unless the metadata says otherwise).
import { closeSync, openSync, writeSync } from 'node:fs';
import { dtypeBytes, encode } from './encode.js';
import { elementCount, rowLength, type TensorSource } from './tensor.js';
import {
  GGML_TYPE,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_TYPE,
  GGUF_VERSION,
  type GgufArray,
  type GgufScalarType,
  type GgufValue,
} from '../gguf-types.js';

/** A growable little-endian byte buffer. */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }
  i8(v: number): void {
    this.reserve(1);
    this.buf.writeInt8(v, this.length);
    this.length += 1;
  }
  u16(v: number): void {
    this.reserve(2);
    this.buf.writeUInt16LE(v, this.length);
    this.length += 2;
  }
  i16(v: number): void {
    this.reserve(2);
    this.buf.writeInt16LE(v, this.length);
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }
  f32(v: number): void {
    this.reserve(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }
  f64(v: number): void {
    this.reserve(8);
    this.buf.writeDoubleLE(v, this.length);
    this.length += 8;
  }
  u64(v: bigint): void {
    this.reserve(8);
    this.buf.writeBigUInt64LE(v, this.length);
    this.length += 8;
  }
  i64(v: bigint): void {
    this.reserve(8);
    this.buf.writeBigInt64LE(v, this.length);
    this.length += 8;
  }
  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.u64(BigInt(n));
    this.reserve(n);
    this.buf.write(s, this.length, 'utf8');
    this.length += n;
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeScalar(sink: ByteSink, type: GgufScalarType, v: number | bigint | boolean | string): void {
  switch (type) {
    case 'u8':
      sink.u8(v as number);
      return;
    case 'i8':
      sink.i8(v as number);
      return;
    case 'u16':
      sink.u16(v as number);
      return;
    case 'i16':
      sink.i16(v as number);
      return;
    case 'u32':
      sink.u32(v as number);
      return;
    case 'i32':
      sink.i32(v as number);
      return;
    case 'f32':
      sink.f32(v as number);
      return;
    case 'f64':
      sink.f64(v as number);
      return;
    case 'u64':
      sink.u64(v as bigint);
      return;
    case 'i64':
      sink.i64(v as bigint);
      return;
    case 'bool':
      sink.u8(v ? 1 : 0);
      return;
    case 'string':
      sink.str(v as string);
      return;
  }
}

function writeArray(sink: ByteSink, a: GgufArray): void {
  sink.u32(GGUF_TYPE[a.itemType]);
  sink.u64(BigInt(a.items.length));
  if (a.itemType === 'array') {
    for (const inner of a.items) writeArray(sink, inner);
    return;
  }
  for (const item of a.items) writeScalar(sink, a.itemType, item);
}

function writeValue(sink: ByteSink, v: GgufValue): void {
  sink.u32(GGUF_TYPE[v.type]);
  if (v.type === 'array') writeArray(sink, v);
  else writeScalar(sink, v.type, v.value);
}

export interface GgufWriteOptions {
  /** Metadata in file order; `general.alignment` (u32) changes the alignment. */
  metadata: ReadonlyMap<string, GgufValue> | readonly (readonly [string, GgufValue])[];
  tensors: readonly TensorSource[];
}

/** Writes a GGUF v3 file; tensor values are produced and encoded one at a time. */
export function writeGguf(path: string, opts: GgufWriteOptions): void {
  const entries = [...opts.metadata];
  const alignEntry = entries.find(([k]) => k === 'general.alignment');
  const alignment = alignEntry && alignEntry[1].type === 'u32' ? alignEntry[1].value : GGUF_DEFAULT_ALIGNMENT;

  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(GGUF_VERSION);
  sink.u64(BigInt(opts.tensors.length));
  sink.u64(BigInt(entries.length));
  for (const [key, value] of entries) {
    sink.str(key);
    writeValue(sink, value);
  }
  const sizes: number[] = [];
  let offset = 0;
  for (const t of opts.tensors) {
    const size = dtypeBytes(t.dtype, rowLength(t.shape)) * (elementCount(t.shape) / rowLength(t.shape));
    sink.str(t.name);
    sink.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) sink.u64(BigInt(t.shape[i]));
    sink.u32(GGML_TYPE[t.dtype]);
    sink.u64(BigInt(offset));
    sizes.push(size);
    offset += size + ((alignment - (size % alignment)) % alignment);
  }
  sink.pad(alignment);

  const fd = openSync(path, 'w');
  try {
    writeSync(fd, sink.bytes());
    const zeros = Buffer.alloc(alignment);
    opts.tensors.forEach((t, i) => {
      const values = t.values();
      if (values.length !== elementCount(t.shape)) {
        throw new Error(`tensor ${t.name}: ${String(values.length)} values for shape [${t.shape.join(', ')}]`);
      }
      const bytes = encode(t.dtype, values, rowLength(t.shape));
      writeSync(fd, bytes);
      const size = sizes[i];
      const padding = (alignment - (size % alignment)) % alignment;
      if (padding > 0) writeSync(fd, zeros, 0, padding);
    });
  } finally {
    closeSync(fd);
  }
}
