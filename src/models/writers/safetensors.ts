// safetensors writer: u64 header length, JSON header padded with spaces so
// the data starts 8-byte aligned, then the tensors back to back (the format
// forbids holes). Optional sharding writes model-0000i-of-0000n.safetensors
// plus the model.safetensors.index.json that transformers writes.
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { dtypeBytes, encode } from './encode.js';
import { elementCount, rowLength, type TensorSource } from './tensor.js';

const ST_DTYPE = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function tensorBytes(t: TensorSource): number {
  return dtypeBytes(t.dtype, rowLength(t.shape)) * (elementCount(t.shape) / rowLength(t.shape));
}

/** Writes one .safetensors file holding `tensors` in the given order. */
export function writeSafetensorsFile(path: string, tensors: readonly TensorSource[], metadata: Record<string, string> = {}): void {
  const header: Record<string, HeaderEntry | Record<string, string>> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    if (t.dtype === 'q8_0') throw new Error(`safetensors has no q8_0 dtype (tensor ${t.name}); use GGUF`);
    const size = tensorBytes(t);
    header[t.name] = { dtype: ST_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  const raw = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - ((8 + raw) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(jsonBytes.length));

  const fd = openSync(path, 'w');
  try {
    writeSync(fd, prefix);
    writeSync(fd, jsonBytes);
    for (const t of tensors) {
      const values = t.values();
      if (values.length !== elementCount(t.shape)) {
        throw new Error(`tensor ${t.name}: ${String(values.length)} values for shape [${t.shape.join(', ')}]`);
      }
      writeSync(fd, encode(t.dtype, values, rowLength(t.shape)));
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a model's weights into `dir`: one model.safetensors, or `shards`
 * files of about equal size plus model.safetensors.index.json.
 */
export function writeSafetensorsModel(dir: string, tensors: readonly TensorSource[], shards = 1): string[] {
  if (shards <= 1) {
    writeSafetensorsFile(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
    return ['model.safetensors'];
  }
  const total = tensors.reduce((a, t) => a + tensorBytes(t), 0);
  const groups: TensorSource[][] = [];
  let current: TensorSource[] = [];
  let acc = 0;
  for (const t of tensors) {
    current.push(t);
    acc += tensorBytes(t);
    if (acc >= (total * (groups.length + 1)) / shards && groups.length < shards - 1) {
      groups.push(current);
      current = [];
    }
  }
  groups.push(current);
  const n = groups.length;
  const pad = (i: number): string => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  groups.forEach((group, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    writeSafetensorsFile(join(dir, file), group, { format: 'pt' });
    for (const t of group) weightMap[t.name] = file;
    files.push(file);
  });
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index, null, 2) + '\n');
  return files;
}
