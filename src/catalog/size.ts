// Byte sizes as people type them (`50GB`, `1.5TiB`, `200M`) and as we print them.
// Decimal units (kB, MB, GB, TB) are powers of 1000 like disk vendors and the
// hub's web pages; binary units (KiB, MiB, GiB, TiB) are powers of 1024.

const UNITS: Partial<Record<string, number>> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** Parse a size; null when it is not one. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m?.[1]) return null;
  const unit = UNITS[m[2].toLowerCase()];
  if (unit === undefined) return null;
  const v = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(v) ? v : null;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : 1)} ${units[i] ?? 'B'}`;
}
