// BlockPool against a plain-array model under random operations: same free
// list order (LRU), same ref counts, same hash map, same usage after every
// operation; and nothing leaks when every reference is returned.
import fc from 'fast-check';
import t from 'tap';

import { BlockPool } from '../../src/kvcache/block-pool.js';

type Op =
  | { kind: 'allocate'; n: number }
  | { kind: 'free'; picks: number[] }
  | { kind: 'touch'; picks: number[] }
  | { kind: 'cache'; pick: number; hash: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('allocate' as const), n: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('free' as const), picks: fc.array(fc.nat(), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('touch' as const), picks: fc.array(fc.nat(), { maxLength: 3 }) }),
  fc.record({ kind: fc.constant('cache' as const), pick: fc.nat(), hash: fc.integer({ min: 0, max: 7 }) }),
);

/** The obvious, slow implementation. */
class Model {
  free: number[];
  ref = new Map<number, number>();
  hashOf = new Map<number, string>();
  byHash = new Map<string, number>();
  constructor(n: number) {
    this.free = Array.from({ length: n - 1 }, (_, i) => i + 1);
  }
  allocate(n: number): number[] | null {
    if (n > this.free.length) return null;
    const out = this.free.splice(0, n);
    for (const b of out) {
      const h = this.hashOf.get(b);
      if (h !== undefined) this.byHash.delete(h);
      this.hashOf.delete(b);
      this.ref.set(b, 1);
    }
    return out;
  }
  touch(b: number): void {
    const r = this.ref.get(b) ?? 0;
    if (r === 0) this.free.splice(this.free.indexOf(b), 1);
    this.ref.set(b, r + 1);
  }
  release(b: number): void {
    const r = (this.ref.get(b) ?? 0) - 1;
    this.ref.set(b, r);
    if (r === 0) this.free.push(b);
  }
  cache(b: number, h: string): boolean {
    const old = this.hashOf.get(b);
    if (old !== undefined) return old === h;
    if (this.byHash.has(h)) return false;
    this.hashOf.set(b, h);
    this.byHash.set(h, b);
    return true;
  }
}

t.test('BlockPool behaves like the model under random operations', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 10 }), fc.array(op, { maxLength: 60 }), (numBlocks, ops) => {
      const pool = new BlockPool(numBlocks);
      const model = new Model(numBlocks);
      const owned: number[] = []; // one entry per reference held
      for (const o of ops) {
        if (o.kind === 'allocate') {
          const got = pool.allocate(o.n);
          const want = model.allocate(o.n);
          if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`allocate(${o.n}): ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
          if (got) owned.push(...got);
        } else if (o.kind === 'free') {
          const ids: number[] = [];
          for (const p of o.picks) if (owned.length > 0) ids.push(...owned.splice(p % owned.length, 1));
          pool.free(ids);
          for (const b of ids) model.release(b);
        } else if (o.kind === 'touch') {
          const cached = [...model.byHash.values()];
          const ids = cached.length === 0 ? [] : o.picks.map((p) => cached[p % cached.length]);
          pool.touch(ids);
          for (const b of ids) model.touch(b);
          owned.push(...ids);
        } else if (owned.length > 0) {
          const b = owned[o.pick % owned.length];
          const h = `h${o.hash}`;
          const want = model.cache(b, h);
          let got: boolean;
          try {
            got = pool.cacheBlock(b, h);
          } catch {
            got = false; // rewriting a hash throws; the model says false for it too
          }
          if (got !== want) throw new Error(`cacheBlock(${b}, ${h}): ${got} vs ${want}`);
        }
        const order = pool.freeListOrder();
        if (order.join() !== model.free.join()) throw new Error(`free list ${order.join()} vs ${model.free.join()}`);
        for (let b = 1; b < numBlocks; b++) {
          if (pool.refCount(b) !== (model.ref.get(b) ?? 0)) throw new Error(`ref count of ${b}`);
          if (pool.hashOf(b) !== model.hashOf.get(b)) throw new Error(`hash of ${b}`);
        }
        for (const [h, b] of model.byHash) if (pool.lookup(h) !== b) throw new Error(`lookup ${h}`);
        const cachedFree = model.free.filter((b) => model.hashOf.has(b)).length;
        const u = pool.usage();
        if (u.free !== model.free.length || u.cachedFree !== cachedFree || u.used !== numBlocks - 1 - model.free.length) {
          throw new Error(`usage ${JSON.stringify(u)}`);
        }
      }
      // Return every reference: all blocks free, all counts 0.
      pool.free(owned.splice(0));
      if (pool.usage().used !== 0 || pool.freeListOrder().length !== numBlocks - 1) throw new Error('leak');
    }),
    { numRuns: 500 },
  );
  t.pass('500 random operation sequences');
  t.end();
});
