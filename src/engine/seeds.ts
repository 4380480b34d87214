// Per-request and per-choice seeds for the counter-based sampler.

/** splitmix64: a well-mixed 64-bit value from (base, index), for n > 1 choices. */
export function mixSeed(base: bigint, index: number): bigint {
  const M = (1n << 64n) - 1n;
  let z = (base + 0x9e3779b97f4a7c15n * BigInt(index + 1)) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  return z ^ (z >> 31n);
}
