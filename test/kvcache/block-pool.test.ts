import t from 'tap';

import { BlockPool } from '../../src/kvcache/block-pool.js';

t.test('a fresh pool hands out 1, 2, 3, ... and never the null block', (t) => {
  const pool = new BlockPool(6);
  t.same(pool.usage(), { total: 5, used: 0, cachedFree: 0, free: 5 });
  t.same(pool.freeListOrder(), [1, 2, 3, 4, 5]);
  t.same(pool.allocate(3), [1, 2, 3]);
  t.same(pool.allocate(2), [4, 5]);
  t.equal(pool.allocate(1), null, 'empty pool: a shortage is a value');
  t.same(pool.usage(), { total: 5, used: 5, cachedFree: 0, free: 0 });
  t.end();
});

t.test('allocate(n) with fewer than n free changes nothing', (t) => {
  const pool = new BlockPool(4);
  t.same(pool.allocate(2), [1, 2]);
  t.equal(pool.allocate(2), null);
  t.same(pool.freeListOrder(), [3]);
  t.equal(pool.refCount(3), 0);
  t.end();
});

t.test('freed blocks join the tail in the order given (LRU)', (t) => {
  const pool = new BlockPool(6);
  pool.allocate(5);
  pool.free([2]);
  pool.free([5, 4]);
  pool.free([1]);
  t.same(pool.freeListOrder(), [2, 5, 4, 1]);
  t.same(pool.allocate(3), [2, 5, 4], 'least recently freed first');
  t.end();
});

t.test('cached free blocks are evicted in LRU order and lose their hash', (t) => {
  const pool = new BlockPool(6);
  pool.evictionLog = [];
  const [a, b, c] = pool.allocate(3) ?? [];
  t.ok(pool.cacheBlock(a, 'hA'));
  t.ok(pool.cacheBlock(b, 'hB'));
  t.ok(pool.cacheBlock(c, 'hC'));
  // A request's table [a, b, c] freed backwards: the tail c is evicted first.
  pool.free([c, b, a]);
  t.same(pool.freeListOrder(), [4, 5, 3, 2, 1]);
  t.same(pool.usage(), { total: 5, used: 0, cachedFree: 3, free: 5 });
  t.equal(pool.lookup('hB'), 2, 'a free block stays findable by its hash');
  t.same(pool.allocate(3), [4, 5, 3], 'uncached 4, 5 first, then the oldest cached');
  t.same(pool.evictionLog, [3]);
  t.equal(pool.lookup('hC'), undefined);
  t.equal(pool.hashOf(3), undefined);
  t.same(pool.usage(), { total: 5, used: 3, cachedFree: 2, free: 2 });
  t.end();
});

t.test('touch takes a cached block out of the middle of the free list', (t) => {
  const pool = new BlockPool(6);
  pool.allocate(5);
  pool.cacheBlock(3, 'h3');
  pool.free([1, 2, 3, 4, 5]);
  t.same(pool.freeListOrder(), [1, 2, 3, 4, 5]);
  pool.touch([3]);
  t.equal(pool.refCount(3), 1);
  t.same(pool.freeListOrder(), [1, 2, 4, 5]);
  t.same(pool.usage(), { total: 5, used: 1, cachedFree: 0, free: 4 });
  pool.touch([3]);
  t.equal(pool.refCount(3), 2, 'a shared block counts each owner');
  pool.free([3]);
  t.same(pool.freeListOrder(), [1, 2, 4, 5], 'still owned once');
  pool.free([3]);
  t.same(pool.freeListOrder(), [1, 2, 4, 5, 3], 'back at the tail: most recently used');
  t.equal(pool.lookup('h3'), 3, 'and still cached');
  t.end();
});

t.test('touching the head and the tail keeps the list linked', (t) => {
  const pool = new BlockPool(5);
  pool.allocate(4);
  pool.free([1, 2, 3, 4]);
  pool.touch([1]);
  pool.touch([4]);
  t.same(pool.freeListOrder(), [2, 3]);
  pool.touch([2, 3]);
  t.same(pool.freeListOrder(), []);
  pool.free([3, 1, 4, 2]);
  t.same(pool.freeListOrder(), [3, 1, 4, 2]);
  t.end();
});

t.test('a double free is caught, not absorbed', (t) => {
  const pool = new BlockPool(4);
  pool.allocate(1);
  pool.free([1]);
  t.throws(() => {
    pool.free([1]);
  }, /freed more often/);
  t.throws(() => {
    pool.free([0]);
  }, RangeError, 'the null block is never owned');
  t.end();
});

t.test('a hash is written once and maps to one block', (t) => {
  const pool = new BlockPool(5);
  pool.allocate(3);
  t.ok(pool.cacheBlock(1, 'h'));
  t.ok(pool.cacheBlock(1, 'h'), 'the same hash again is a no-op');
  t.throws(() => pool.cacheBlock(1, 'other'), /already holds another hash/);
  t.notOk(pool.cacheBlock(2, 'h'), 'a duplicate block stays uncached');
  t.equal(pool.hashOf(2), undefined);
  t.equal(pool.lookup('h'), 1);
  t.throws(() => pool.cacheBlock(4, 'x'), /free/, 'only blocks in use are cached');
  t.end();
});

t.test('resetPrefixCache drops the hashes of free blocks only', (t) => {
  const pool = new BlockPool(5);
  pool.allocate(2);
  pool.cacheBlock(1, 'h1');
  pool.cacheBlock(2, 'h2');
  pool.free([2]);
  pool.resetPrefixCache();
  t.equal(pool.lookup('h2'), undefined);
  t.equal(pool.lookup('h1'), 1);
  t.same(pool.usage(), { total: 4, used: 1, cachedFree: 0, free: 3 });
  t.end();
});

t.test('a pool needs at least one usable block', (t) => {
  t.throws(() => new BlockPool(1), RangeError);
  t.end();
});
