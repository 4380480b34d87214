// LRU eviction order, property-tested: whatever the sizes, ages and in-use
// flags, gc evicts the least recently used models first, never one in use,
// and stops as soon as the cache fits.
import t from 'tap';
import fc from 'fast-check';
import { planEviction, lruOrder, type GcCandidate } from '../../src/catalog/gc-plan.js';

const candidates = fc.uniqueArray(
  fc.record({
    repo: fc.stringMatching(/^[a-z]{1,6}\/[a-z0-9]{1,6}$/),
    size: fc.integer({ min: 0, max: 1e9 }),
    lastUsed: fc.integer({ min: 0, max: 1000 }),
    inUse: fc.boolean(),
  }),
  { selector: (m) => m.repo, maxLength: 30 },
);

t.test('planEviction properties', (t) => {
  fc.assert(
    fc.property(candidates, fc.integer({ min: 0, max: 2e10 }), (models: GcCandidate[], max) => {
      const plan = planEviction(models, max);
      const total = models.reduce((a, m) => a + m.size, 0);
      const byRepo = new Map(models.map((m) => [m.repo, m]));
      const evicted = plan.evict.map((r) => byRepo.get(r));
      // Never evicts a model in use; sizes add up.
      if (evicted.some((m) => m === undefined || m.inUse)) return false;
      if (plan.reclaimedBytes !== evicted.reduce((a, m) => a + (m?.size ?? 0), 0)) return false;
      if (plan.remainingBytes !== total - plan.reclaimedBytes) return false;
      // Evicted in LRU order, and everything evicted is older than (or tied and before) everything kept.
      for (let i = 1; i < evicted.length; i++) {
        const a = evicted[i - 1];
        const b = evicted[i];
        if (a && b && lruOrder(a, b) > 0) return false;
      }
      const kept = models.filter((m) => !m.inUse && !plan.evict.includes(m.repo));
      for (const e of evicted) for (const k of kept) if (e && lruOrder(e, k) > 0) return false;
      // Fits when it can; otherwise everything evictable is gone.
      if (plan.remainingBytes > max && kept.length > 0) return false;
      // Minimal: without the last eviction it would not fit.
      if (plan.evict.length > 0) {
        const last = evicted[evicted.length - 1];
        if (last && plan.remainingBytes + last.size <= max) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.end();
});

t.test('a worked example: oldest first, in-use skipped, stop when under the limit', (t) => {
  const plan = planEviction(
    [
      { repo: 'a/new', size: 30, lastUsed: 300, inUse: false },
      { repo: 'a/old', size: 30, lastUsed: 100, inUse: false },
      { repo: 'a/serving', size: 30, lastUsed: 50, inUse: true },
      { repo: 'a/mid', size: 30, lastUsed: 200, inUse: false },
    ],
    70,
  );
  t.same(plan.evict, ['a/old', 'a/mid']);
  t.equal(plan.reclaimedBytes, 60);
  t.equal(plan.remainingBytes, 60);
  t.end();
});
