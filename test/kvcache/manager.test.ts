import t from 'tap';

import { BlockHasher } from '../../src/kvcache/block-hash.js';
import { KVCacheManager } from '../../src/kvcache/manager.js';
import type { BlockHash, KvSeq } from '../../src/kvcache/types.js';

/** A KvSeq the test moves by hand, as the scheduler would. */
function seq(id: string, tokenIds: number[]): KvSeq & { numComputedTokens: number; tokenIds: number[] } {
  return { id, tokenIds, numComputedTokens: 0, blockHashes: [] as BlockHash[] };
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

function manager(numBlocks = 10, enablePrefixCaching = true): KVCacheManager {
  return new KVCacheManager({ numBlocks, blockSize: 4, enablePrefixCaching, hashSeed: 'seed' });
}

t.test('allocation follows the table: exact block ids, chunk by chunk', (t) => {
  const kv = manager();
  const a = seq('a', range(0, 10));
  t.same(kv.getComputedBlocks(a), { blockIds: [], numTokens: 0 }, 'cold cache');
  t.same(kv.allocateSlots(a, 6, kv.getComputedBlocks(a)), [1, 2], 'first chunk of 6 tokens: 2 blocks');
  a.numComputedTokens = 6;
  t.same(kv.allocateSlots(a, 4), [3], 'positions 6..9 need one more block');
  a.numComputedTokens = 10;
  t.same(kv.allocateSlots(a, 1), [], 'position 10 still fits block 3');
  a.numComputedTokens = 11;
  t.same(kv.allocateSlots(a, 2), [4], 'position 11 fills block 3, 12 opens block 4');
  t.same(kv.blockTable('a'), [1, 2, 3, 4]);
  t.same(kv.usage(), { total: 9, used: 4, cachedFree: 0, free: 5 });
  t.end();
});

t.test('a shortage returns null and changes nothing', (t) => {
  const kv = manager(4); // 3 usable
  const a = seq('a', range(0, 8));
  t.same(kv.allocateSlots(a, 8, kv.getComputedBlocks(a)), [1, 2]);
  const b = seq('b', range(100, 8));
  t.equal(kv.allocateSlots(b, 8, kv.getComputedBlocks(b)), null);
  t.same(kv.blockTable('b'), []);
  t.same(kv.usage(), { total: 3, used: 2, cachedFree: 0, free: 1 });
  t.equal(kv.prefixCacheQueries, 8, 'a failed admission is not counted');
  t.end();
});

t.test('prefix cache hit: exact block ids, shared ref counts, counters in tokens', (t) => {
  const kv = manager();
  const prompt = range(0, 10);
  const a = seq('a', prompt.slice());
  t.same(kv.allocateSlots(a, 10, kv.getComputedBlocks(a)), [1, 2, 3]);
  a.numComputedTokens = 10;
  kv.cacheFullBlocks(a, 10); // blocks 1 and 2 are full; 3 holds 2 tokens and stays uncached
  t.ok(kv.pool.hashOf(1) !== undefined && kv.pool.hashOf(2) !== undefined);
  t.equal(kv.pool.hashOf(3), undefined);

  const b = seq('b', prompt.slice());
  const hit = kv.getComputedBlocks(b);
  t.same(hit, { blockIds: [1, 2], numTokens: 8 });
  t.same(kv.allocateSlots(b, 2, hit), [4], 'only the 2 uncached tokens get a new block');
  t.same(kv.blockTable('b'), [1, 2, 4]);
  t.same([1, 2, 3, 4].map((x) => kv.pool.refCount(x)), [2, 2, 1, 1]);
  t.equal(kv.prefixCacheQueries, 20);
  t.equal(kv.prefixCacheHits, 8);
  t.end();
});

t.test('the whole prompt is never a hit: one token is left to compute', (t) => {
  const kv = manager();
  const a = seq('a', range(0, 8)); // exactly 2 full blocks
  kv.allocateSlots(a, 8, kv.getComputedBlocks(a));
  a.numComputedTokens = 8;
  kv.cacheFullBlocks(a, 8);
  const b = seq('b', range(0, 8));
  t.same(kv.getComputedBlocks(b), { blockIds: [1], numTokens: 4 }, 'capped at (8 - 1) rounded down to a block');
  const c = seq('c', range(0, 9));
  t.same(kv.getComputedBlocks(c), { blockIds: [1, 2], numTokens: 8 });
  const d = seq('d', [0, 1, 2, 3, 99, 5, 6, 7, 8]);
  t.same(kv.getComputedBlocks(d), { blockIds: [1], numTokens: 4 }, 'a different token ends the match');
  t.end();
});

t.test('chained hashes: the same block after a different prefix is no hit', (t) => {
  const kv = manager();
  const a = seq('a', [...range(0, 4), ...range(50, 4), 7]);
  kv.allocateSlots(a, 9, kv.getComputedBlocks(a));
  a.numComputedTokens = 9;
  kv.cacheFullBlocks(a, 9);
  const b = seq('b', [...range(10, 4), ...range(50, 4), 7]);
  t.same(kv.getComputedBlocks(b), { blockIds: [], numTokens: 0 });
  t.end();
});

t.test('free walks the table backwards: exact eviction order', (t) => {
  const kv = manager(8); // usable 1..7
  kv.pool.evictionLog = [];
  const a = seq('a', range(0, 13));
  t.same(kv.allocateSlots(a, 13, kv.getComputedBlocks(a)), [1, 2, 3, 4]);
  a.numComputedTokens = 13;
  kv.cacheFullBlocks(a, 13); // 1, 2, 3 cached
  const b = seq('b', range(0, 13));
  const hit = kv.getComputedBlocks(b);
  t.same(hit.blockIds, [1, 2, 3]);
  t.same(kv.allocateSlots(b, 1, hit), [5]);
  kv.free(a); // 4 freed; 3, 2, 1 still held by b
  t.same(kv.pool.freeListOrder(), [6, 7, 4]);
  kv.free(b); // b's table [1, 2, 3, 5] reversed
  t.same(kv.pool.freeListOrder(), [6, 7, 4, 5, 3, 2, 1]);
  t.same(kv.usage(), { total: 7, used: 0, cachedFree: 3, free: 7 });
  const c = seq('c', range(100, 24));
  t.same(kv.allocateSlots(c, 24, kv.getComputedBlocks(c)), [6, 7, 4, 5, 3, 2]);
  t.same(kv.pool.evictionLog, [3, 2], 'the tail of the shared prefix goes first');
  const d = seq('d', range(0, 13));
  t.same(kv.getComputedBlocks(d), { blockIds: [1], numTokens: 4 }, 'the head of the prefix survives');
  t.end();
});

t.test('a cached free hit is taken out of the free list before new blocks are drawn', (t) => {
  const kv = manager(4); // usable 1..3
  const a = seq('a', range(0, 9));
  kv.allocateSlots(a, 9, kv.getComputedBlocks(a));
  a.numComputedTokens = 9;
  kv.cacheFullBlocks(a, 9);
  kv.free(a);
  t.same(kv.pool.freeListOrder(), [3, 2, 1]);
  const b = seq('b', range(0, 12));
  const hit = kv.getComputedBlocks(b);
  t.same(hit.blockIds, [1, 2]);
  t.same(kv.allocateSlots(b, 4, hit), [3], 'blocks 1 and 2 are not evicted to make room');
  t.same(kv.blockTable('b'), [1, 2, 3]);
  const c = seq('c', range(0, 12));
  const hitC = kv.getComputedBlocks(c);
  t.equal(kv.allocateSlots(c, 4, hitC), null, 'hits alone do not make room for the rest');
  t.same([1, 2, 3].map((x) => kv.pool.refCount(x)), [1, 1, 1], 'and the null left the ref counts alone');
  t.end();
});

t.test('prefix caching off: no hashes, no hits', (t) => {
  const kv = manager(10, false);
  const a = seq('a', range(0, 9));
  kv.allocateSlots(a, 9, kv.getComputedBlocks(a));
  a.numComputedTokens = 9;
  kv.cacheFullBlocks(a, 9);
  t.equal(kv.pool.hashOf(1), undefined);
  t.same(kv.getComputedBlocks(seq('b', range(0, 9))), { blockIds: [], numTokens: 0 });
  t.equal(kv.prefixCacheQueries, 0);
  t.end();
});

t.test('block hashes: seeded, chained, order-sensitive', (t) => {
  const h1 = new BlockHasher('s');
  const h2 = new BlockHasher('s');
  const other = new BlockHasher('t');
  const x = h1.hash(null, [1, 2, 3, 4]);
  t.equal(h2.hash(null, [1, 2, 3, 4]), x, 'same seed, same hash');
  t.not(other.hash(null, [1, 2, 3, 4]), x, 'another seed, another hash');
  t.not(new BlockHasher().hash(null, [1, 2, 3, 4]), new BlockHasher().hash(null, [1, 2, 3, 4]), 'random seeds differ');
  t.not(h1.hash(null, [2, 1, 3, 4]), x);
  t.not(h1.hash(x, [1, 2, 3, 4]), x, 'the parent is part of the key');
  t.not(h1.hash(null, [65536]), h1.hash(null, [0, 1]), 'tokens are fixed-width, not concatenated digits');
  t.equal(x.length, 32);
  const hashes: BlockHash[] = [];
  h1.extend(hashes, range(0, 10), 10, 4);
  t.equal(hashes.length, 2, 'full blocks only');
  t.equal(hashes[1], h1.hash(hashes[0], range(4, 4)));
  t.end();
});
