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
// not read; the native loader maps it. The byte-level reading is
// gguf-cursor.ts; typed access to the metadata, gguf-metadata.ts.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { Cursor, GgufError, readArray, readValue } from './gguf-cursor.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, type GgufValue } from './gguf-types.js';

export { GgufError } from './gguf-cursor.js';
export { GgufMetadata } from './gguf-metadata.js';

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

const MAX_DIMS = 4;

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
