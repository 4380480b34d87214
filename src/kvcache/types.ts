// Shared shapes of the KV-cache manager, kept apart so the scheduler's
// interface can name them without importing the implementation.

/** Block counts of the pool; the null block 0 is in none of them. */
export interface KvUsage {
  /** Usable blocks: numBlocks - 1. */
  total: number;
  /** Blocks referenced by at least one request. */
  used: number;
  /** Free blocks that still hold a cached prefix (reusable until evicted). */
  cachedFree: number;
  /** All free blocks, cachedFree included: total - used. */
  free: number;
}

/** A chained block hash; opaque (a 32-byte SHA-256 digest held as a latin1 string). */
export type BlockHash = string;

/**
 * What the manager needs of a request. `tokenIds` is every known token
 * (prompt then output); `blockHashes` is owned by the manager, which fills
 * it lazily with the hashes of the full blocks of `tokenIds` (it stays valid
 * across preemption because known tokens only grow).
 */
export interface KvSeq {
  readonly id: string;
  readonly tokenIds: readonly number[];
  /** Tokens whose KV is in the request's blocks (0 while it holds none). */
  readonly numComputedTokens: number;
  readonly blockHashes: BlockHash[];
}

/** Longest cached prefix of a request, in full blocks. */
export interface ComputedBlocks {
  blockIds: readonly number[];
  /** blockIds.length * blockSize. */
  numTokens: number;
}
