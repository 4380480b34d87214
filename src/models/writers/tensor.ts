import type { WeightDType } from './encode.js';

/**
 * One tensor to write. `shape` is row-major, outermost first (numpy/torch
 * order); `values` is called once, when the tensor's bytes are written, so
 * a large model never sits whole in memory.
 */
export interface TensorSource {
  name: string;
  shape: readonly number[];
  dtype: WeightDType;
  values: () => Float32Array;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Elements per row: the innermost dimension (1 for a scalar). */
export function rowLength(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : shape[shape.length - 1];
}
