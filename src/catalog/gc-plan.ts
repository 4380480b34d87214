// Which models `gc --max-size` evicts: least recently used first, never one
// in use by a running server, and no more than needed to get under the limit.
// Pure, so the order is property-tested without touching a disk.

export interface GcCandidate {
  repo: string;
  size: number;
  lastUsed: number;
  inUse: boolean;
}

export interface GcPlan {
  evict: string[];
  reclaimedBytes: number;
  /** Size of what stays; can exceed maxBytes when the rest is in use. */
  remainingBytes: number;
}

/** LRU order: oldest last-use first; ties broken by name so the plan is deterministic. */
export function lruOrder(a: GcCandidate, b: GcCandidate): number {
  return a.lastUsed - b.lastUsed || (a.repo < b.repo ? -1 : a.repo > b.repo ? 1 : 0);
}

export function planEviction(models: readonly GcCandidate[], maxBytes: number): GcPlan {
  let remaining = models.reduce((a, m) => a + m.size, 0);
  const evict: string[] = [];
  let reclaimed = 0;
  for (const m of [...models].filter((x) => !x.inUse).sort(lruOrder)) {
    if (remaining <= maxBytes) break;
    evict.push(m.repo);
    reclaimed += m.size;
    remaining -= m.size;
  }
  return { evict, reclaimedBytes: reclaimed, remainingBytes: remaining };
}
