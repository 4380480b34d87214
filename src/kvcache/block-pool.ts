// The pool of KV blocks: ref counts, the free list in LRU order, and the
// prefix cache's hash -> block map. It knows nothing of requests; the
// KVCacheManager keeps the block tables.
//
// Free list: an intrusive doubly linked list over block ids, stored in two
// Int32Arrays (no per-block objects). HEAD is the next block handed out (the
// least recently freed), TAIL the most recently freed:
//
//   head                                                   tail
//    |                                                       |
//    v                                                       v
//   [b3] <-> [b7] <-> [b1] <-> [b9] <-> ... <-> [b4]     (NIL = -1 at both ends)
//    ^ evicted first                             ^ freed last
//
// A free block may still carry a hash (a "cached free" block): a request that
// hits it takes it out of the list in O(1) (touch), without a scan. Handing a
// cached block out as a fresh one evicts it: its hash is dropped from the map.
// Block 0 is the null block: never in the list, never handed out.

import type { BlockHash, KvUsage } from './types.js';

const NIL = -1;

export class BlockPool {
  readonly numBlocks: number;
  private readonly refCnt: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly inFree: Uint8Array;
  private readonly hashes: (BlockHash | undefined)[];
  private readonly hashToBlock = new Map<BlockHash, number>();
  private head = NIL;
  private tail = NIL;
  private numFree = 0;
  private numCachedFree = 0;
  /** Ids of evicted blocks, in order; recorded only when set to an array (tests). */
  evictionLog: number[] | null = null;

  constructor(numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 2) {
      throw new RangeError(`a block pool needs at least 2 blocks (the null block and one usable), got ${numBlocks}`);
    }
    this.numBlocks = numBlocks;
    this.refCnt = new Int32Array(numBlocks);
    this.prev = new Int32Array(numBlocks).fill(NIL);
    this.next = new Int32Array(numBlocks).fill(NIL);
    this.inFree = new Uint8Array(numBlocks);
    this.hashes = new Array<BlockHash | undefined>(numBlocks).fill(undefined);
    // Ascending ids, so a fresh pool hands out 1, 2, 3, ...
    for (let b = 1; b < numBlocks; b++) this.pushTail(b);
  }

  /** Blocks in the free list (cached ones included). */
  get numFreeBlocks(): number {
    return this.numFree;
  }

  usage(): KvUsage {
    const total = this.numBlocks - 1;
    return { total, used: total - this.numFree, cachedFree: this.numCachedFree, free: this.numFree };
  }

  refCount(blockId: number): number {
    return this.refCnt[blockId];
  }

  hashOf(blockId: number): BlockHash | undefined {
    return this.hashes[blockId];
  }

  /** The cached block holding this hash, free or in use. */
  lookup(hash: BlockHash): number | undefined {
    return this.hashToBlock.get(hash);
  }

  /** The free list from head (next handed out) to tail; O(n), for tests and debugging. */
  freeListOrder(): number[] {
    const out: number[] = [];
    for (let b = this.head; b !== NIL; b = this.next[b]) out.push(b);
    return out;
  }

  /**
   * Take `n` blocks from the head of the free list (ref count 1 each),
   * evicting the cached ones. Returns null, changing nothing, when fewer
   * than `n` are free.
   */
  allocate(n: number): number[] | null {
    if (n > this.numFree) return null;
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const b = this.head;
      this.evict(b);
      this.unlink(b);
      this.refCnt[b] = 1;
      out[i] = b;
    }
    return out;
  }

  /**
   * A request takes shared ownership of cached blocks (prefix hit): +1 each,
   * and out of the free list if they were free (keeping their hash).
   */
  touch(blockIds: readonly number[]): void {
    for (const b of blockIds) {
      this.checkId(b);
      if (this.refCnt[b] === 0) {
        this.unlink(b);
        if (this.hashes[b] !== undefined) this.numCachedFree--;
      }
      this.refCnt[b]++;
    }
  }

  /**
   * Drop one reference from each block, in the order given; blocks reaching
   * 0 go to the tail of the free list (cached ones keep their hash). Callers
   * pass a table reversed so that a sequence's tail is evicted before its
   * head, which other requests are likelier to share.
   */
  free(blockIds: readonly number[]): void {
    for (const b of blockIds) {
      this.checkId(b);
      if (this.refCnt[b] <= 0) throw new Error(`block ${b} freed more often than it was taken`);
      this.refCnt[b]--;
      if (this.refCnt[b] === 0) {
        this.pushTail(b);
        if (this.hashes[b] !== undefined) this.numCachedFree++;
      }
    }
  }

  /**
   * Register a full, computed, in-use block under its chained hash. A block's
   * hash is written once. If another block already holds the hash (two
   * requests computed the same prefix at once), this one stays uncached and
   * false is returned: the map keeps exactly one block per hash.
   */
  cacheBlock(blockId: number, hash: BlockHash): boolean {
    this.checkId(blockId);
    if (this.refCnt[blockId] === 0) throw new Error(`block ${blockId} is free; only blocks in use are cached`);
    const old = this.hashes[blockId];
    if (old !== undefined) {
      if (old !== hash) throw new Error(`block ${blockId} already holds another hash`);
      return true;
    }
    if (this.hashToBlock.has(hash)) return false;
    this.hashes[blockId] = hash;
    this.hashToBlock.set(hash, blockId);
    return true;
  }

  /** Forget every cached free block (e.g. after weights change). Blocks in use keep theirs. */
  resetPrefixCache(): void {
    for (let b = this.head; b !== NIL; b = this.next[b]) this.evict(b);
  }

  private evict(b: number): void {
    const h = this.hashes[b];
    if (h === undefined) return;
    this.hashToBlock.delete(h);
    this.hashes[b] = undefined;
    if (this.refCnt[b] === 0 && this.inFree[b] === 1) this.numCachedFree--;
    this.evictionLog?.push(b);
  }

  private checkId(b: number): void {
    if (!Number.isInteger(b) || b <= 0 || b >= this.numBlocks) {
      throw new RangeError(`block id ${b} out of range 1..${this.numBlocks - 1}`);
    }
  }

  private pushTail(b: number): void {
    this.prev[b] = this.tail;
    this.next[b] = NIL;
    if (this.tail === NIL) this.head = b;
    else this.next[this.tail] = b;
    this.tail = b;
    this.inFree[b] = 1;
    this.numFree++;
  }

  private unlink(b: number): void {
    const p = this.prev[b];
    const n = this.next[b];
    if (p === NIL) this.head = n;
    else this.next[p] = n;
    if (n === NIL) this.tail = p;
    else this.prev[n] = p;
    this.prev[b] = NIL;
    this.next[b] = NIL;
    this.inFree[b] = 0;
    this.numFree--;
  }
}
