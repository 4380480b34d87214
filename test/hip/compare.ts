// Greedy runs on a device against the CPU's, shared by the hip-emu tests.
import type { Test } from 'tap';
import type { Sampled } from '../native/step-helpers.js';

function worstGap(a: Sampled, b: Sampled): number {
  let worst = Math.abs(a.logprob - b.logprob);
  a.topLogprobs.forEach((lp, j) => (worst = Math.max(worst, Math.abs(lp - (b.topLogprobs[j] ?? NaN)))));
  return worst;
}

/**
 * Greedy tokens equal step for step and logprobs within `tol`. With
 * `nearTie` set, a divergence is accepted where the CPU's two best tokens
 * were within `nearTie` nats and the device took the CPU's second choice;
 * the comparison stops there. Returns the worst logprob gap seen.
 */
export function compareGreedy(t: Test, dev: Sampled[][], cpu: Sampled[][], what: string, tol: number, nearTie = 0): number {
  const steps = dev[0]?.length ?? 0;
  let worstAll = 0;
  dev.forEach((seq, i) => {
    const ref = cpu[i] ?? [];
    let worst = 0;
    let agreed = 0;
    let tie = '';
    for (const [k, s] of seq.entries()) {
      const r = ref.at(k);
      if (r === undefined) break;
      if (s.token !== r.token) {
        const margin = (r.topLogprobs[0] ?? 0) - (r.topLogprobs[1] ?? -Infinity);
        if (nearTie > 0 && margin <= nearTie && s.token === r.topIds[1]) tie = ` (a near tie at step ${k}: margin ${margin.toFixed(3)})`;
        break;
      }
      worst = Math.max(worst, worstGap(s, r));
      agreed++;
    }
    t.ok(agreed === steps || tie !== '', `${what}: prompt ${i} greedy tokens equal the CPU's: ${agreed}/${steps}${tie}`);
    t.ok(worst <= tol, `${what}: prompt ${i} logprobs within ${tol} (worst ${worst.toExponential(2)})`);
    worstAll = Math.max(worstAll, worst);
  });
  return worstAll;
}
