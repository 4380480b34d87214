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
// hashes from leaking across processes. Its cost (a few us per 16-token block)
// is paid once per block, not per step. The digest stays a 32-char latin1
// string: a cheap Map key that chains back into the next hash unchanged.

import { createHash, hash as cryptoHash, randomBytes } from 'node:crypto';

import type { BlockHash } from './types.js';

const DIGEST_BYTES = 32;

export class BlockHasher {
  readonly root: BlockHash;

  /** `seed` fixes the hashes (tests); omitted, a random one is drawn. */
  constructor(seed?: string) {
    const s = seed ?? randomBytes(16).toString('hex');
    this.root = createHash('sha256').update('hipserve-kv-root\0').update(s).digest('binary');
  }

  /** H(parent, tokens[start..end)) = SHA-256(parent's 32 bytes | tokens as little-endian int32). */
  hash(parent: BlockHash | null, tokenIds: readonly number[], start = 0, end = tokenIds.length): BlockHash {
    const buf = Buffer.allocUnsafe(DIGEST_BYTES + (end - start) * 4);
    buf.write(parent ?? this.root, 0, DIGEST_BYTES, 'latin1');
    for (let i = start; i < end; i++) buf.writeInt32LE(tokenIds[i], DIGEST_BYTES + (i - start) * 4);
    // The one-shot crypto.hash (Node >= 20.12) costs half of createHash().update().digest() here.
    return cryptoHash('sha256', buf, 'binary');
  }

  /**
   * Extend `hashes` (the request's full-block hashes so far) to cover the
   * first `numTokens` tokens of `tokenIds`, full blocks only.
   */
  extend(hashes: BlockHash[], tokenIds: readonly number[], numTokens: number, blockSize: number): void {
    const full = Math.floor(Math.min(numTokens, tokenIds.length) / blockSize);
    for (let i = hashes.length; i < full; i++) {
      const parent = i === 0 ? null : hashes[i - 1];
      hashes.push(this.hash(parent, tokenIds, i * blockSize, (i + 1) * blockSize));
    }
  }
}
