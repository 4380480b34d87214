// Chained block hashes for automatic prefix caching.
//
//   h0 = H(root, tokens[0..B))      h1 = H(h0, tokens[B..2B))      ...
//   root = SHA-256("hipserve-kv-root" | seed)
//
// A block's hash covers every token before it, so equal hashes mean equal
// prefixes, and two requests share a block only when they share everything up
// to its end.
//
// Why SHA-256 (node:crypto) rather than a fast 64-bit mix: a collision here is
// silent corruption (a request would attend to another prompt's keys and
// values), and a long-running server hashes billions of blocks; 64 bits gives
// a birthday bound near 2^32 blocks, uncomfortably close. SHA-256 also keeps
// a client from crafting collisions, and the per-process random seed keeps
// hashes from leaking across processes. Its cost (~1 us per 16-token block)
// is paid once per block, not per step. The digest stays a 32-char latin1
// string: a cheap Map key that chains back into the next hash unchanged.

import { createHash, randomBytes } from 'node:crypto';

import type { BlockHash } from './types.js';

export class BlockHasher {
  readonly root: BlockHash;

  /** `seed` fixes the hashes (tests); omitted, a random one is drawn. */
  constructor(seed?: string) {
    const s = seed ?? randomBytes(16).toString('hex');
    this.root = createHash('sha256').update('hipserve-kv-root\0').update(s).digest('binary');
  }

  /** H(parent, tokens): tokens as little-endian int32, the parent's 32 bytes first. */
  hash(parent: BlockHash | null, tokenIds: readonly number[]): BlockHash {
    const buf = Buffer.allocUnsafe(tokenIds.length * 4);
    for (let i = 0; i < tokenIds.length; i++) buf.writeInt32LE(tokenIds[i], i * 4);
    return createHash('sha256')
      .update(parent ?? this.root, 'binary')
      .update(buf)
      .digest('binary');
  }

  /**
   * Extend `hashes` (the request's full-block hashes so far) to cover the
   * first `numTokens` tokens of `tokenIds`, full blocks only.
   */
  extend(hashes: BlockHash[], tokenIds: readonly number[], numTokens: number, blockSize: number): void {
    const full = Math.floor(Math.min(numTokens, tokenIds.length) / blockSize);
    for (let i = hashes.length; i < full; i++) {
      const parent = i === 0 ? null : hashes[i - 1];
      hashes.push(this.hash(parent, tokenIds.slice(i * blockSize, (i + 1) * blockSize)));
    }
  }
}
