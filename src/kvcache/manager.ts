// Per-request block tables on top of the BlockPool, plus automatic prefix
// caching. A request's table maps its token positions to blocks:
//
//   position p  ->  table[floor(p / blockSize)], slot offset p % blockSize
//
//   tokens:  |0 ........ 15|16 ....... 31|32 .. 37|
//   table:   [    b4       ,     b9      ,   b2   ]      (b2 partly filled)
//             ^ full + hashed ^ full + hashed  ^ not cached until full
//
// Only full, computed blocks are ever hashed, so a block in the cache never
// changes again and can be shared by any number of requests (ref counts).

import { BlockHasher } from './block-hash.js';
import { BlockPool } from './block-pool.js';
import type { ComputedBlocks, KvSeq, KvUsage } from './types.js';

export interface KVCacheManagerOptions {
  /** Blocks in the pool, the null block 0 included. */
  numBlocks: number;
  /** Tokens per block; 16 by default. */
  blockSize?: number;
  /** true by default. */
  enablePrefixCaching?: boolean;
  /** Hash seed; random per process when omitted. */
  hashSeed?: string;
}

const NO_BLOCKS: ComputedBlocks = Object.freeze({ blockIds: Object.freeze<number[]>([]), numTokens: 0 });

export class KVCacheManager {
  readonly blockSize: number;
  readonly enablePrefixCaching: boolean;
  readonly pool: BlockPool;
  private readonly hasher: BlockHasher;
  private readonly tables = new Map<string, number[]>();
  /** How many leading blocks of each table are already registered in the cache. */
  private readonly numCached = new Map<string, number>();
  private queries = 0;
  private hits = 0;

  constructor(opts: KVCacheManagerOptions) {
    this.blockSize = opts.blockSize ?? 16;
    if (!Number.isInteger(this.blockSize) || this.blockSize < 1) {
      throw new RangeError(`blockSize must be a positive integer, got ${this.blockSize}`);
    }
    this.enablePrefixCaching = opts.enablePrefixCaching ?? true;
    this.pool = new BlockPool(opts.numBlocks);
    this.hasher = new BlockHasher(opts.hashSeed);
  }

  /** Tokens looked up in the prefix cache (at each admission), cumulative. */
  get prefixCacheQueries(): number {
    return this.queries;
  }

  /** Of those, tokens found cached, cumulative. */
  get prefixCacheHits(): number {
    return this.hits;
  }

  usage(): KvUsage {
    return this.pool.usage();
  }

  /** The request's block table (live; do not mutate), empty if it holds none. */
  blockTable(reqId: string): readonly number[] {
    return this.tables.get(reqId) ?? NO_BLOCKS.blockIds;
  }

  /** Blocks needed to hold `numTokens` tokens. */
  blocksFor(numTokens: number): number {
    return Math.ceil(numTokens / this.blockSize);
  }

  /**
   * The longest cached prefix of the request's known tokens, in full blocks.
   * Never the whole sequence: at least one token must be computed so there
   * are logits to sample, so the prefix is capped at (len - 1) rounded down to
   * a block. Changes nothing (pass the result to allocateSlots to take it).
   */
  getComputedBlocks(req: KvSeq): ComputedBlocks {
    if (!this.enablePrefixCaching) return NO_BLOCKS;
    const maxBlocks = Math.floor((req.tokenIds.length - 1) / this.blockSize);
    if (maxBlocks <= 0) return NO_BLOCKS;
    this.hasher.extend(req.blockHashes, req.tokenIds, maxBlocks * this.blockSize, this.blockSize);
    const blockIds: number[] = [];
    for (let i = 0; i < maxBlocks; i++) {
      const b = this.pool.lookup(req.blockHashes[i]);
      if (b === undefined) break;
      blockIds.push(b);
    }
    return { blockIds, numTokens: blockIds.length * this.blockSize };
  }

  /**
   * Make room for `numNewTokens` more tokens after the request's
   * `numComputedTokens` (for a request being admitted, that is 0 and its
   * `computed` prefix from getComputedBlocks is taken first). Returns the
   * newly allocated blocks, or null when the pool is short, in which case
   * nothing changed.
   */
  allocateSlots(req: KvSeq, numNewTokens: number, computed?: ComputedBlocks): number[] | null {
    const table = this.tables.get(req.id) ?? [];
    const hit = computed ?? NO_BLOCKS;
    if (hit.blockIds.length > 0 && table.length > 0) {
      throw new Error(`request ${req.id} already holds blocks; a cached prefix is taken only at admission`);
    }
    const need = this.blocksFor(req.numComputedTokens + hit.numTokens + numNewTokens) - table.length - hit.blockIds.length;
    // Cached hits that are free now leave the free list when touched: count
    // them before deciding, so a shortage changes nothing.
    let hitsFree = 0;
    for (const b of hit.blockIds) if (this.pool.refCount(b) === 0) hitsFree++;
    if (Math.max(need, 0) + hitsFree > this.pool.numFreeBlocks) return null;

    if (computed !== undefined && this.enablePrefixCaching) {
      this.queries += req.tokenIds.length;
      this.hits += hit.numTokens;
    }
    this.pool.touch(hit.blockIds);
    for (const b of hit.blockIds) table.push(b);
    const fresh = need > 0 ? this.pool.allocate(need) : [];
    if (fresh === null) throw new Error('unreachable: free count checked above');
    for (const b of fresh) table.push(b);
    this.tables.set(req.id, table);
    if (hit.blockIds.length > 0) this.numCached.set(req.id, hit.blockIds.length);
    return fresh;
  }

  /**
   * After a step: register the request's full blocks among its first
   * `numComputedTokens` tokens in the prefix cache (each block once).
   */
  cacheFullBlocks(req: KvSeq, numComputedTokens: number): void {
    if (!this.enablePrefixCaching) return;
    const table = this.tables.get(req.id);
    if (table === undefined) return;
    const full = Math.min(Math.floor(numComputedTokens / this.blockSize), table.length);
    const from = this.numCached.get(req.id) ?? 0;
    if (full <= from) return;
    this.hasher.extend(req.blockHashes, req.tokenIds, full * this.blockSize, this.blockSize);
    for (let i = from; i < full; i++) this.pool.cacheBlock(table[i], req.blockHashes[i]);
    this.numCached.set(req.id, full);
  }

  /**
   * Release every block of the request, tail first, so that the LRU evicts a
   * sequence's private tail before the prefix others may share.
   */
  free(req: KvSeq): void {
    const table = this.tables.get(req.id);
    this.tables.delete(req.id);
    this.numCached.delete(req.id);
    if (table === undefined || table.length === 0) return;
    this.pool.free(table.slice().reverse());
  }

  /** Drop every cached free block (blocks in use keep their hash). */
  resetPrefixCache(): void {
    this.pool.resetPrefixCache();
  }
}
