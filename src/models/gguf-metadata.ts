// Typed access to a GGUF file's metadata (read by gguf-reader.ts), with
// errors that name the file and the key.
import { GgufError } from './gguf-cursor.js';
import type { GgufFile } from './gguf-reader.js';

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
