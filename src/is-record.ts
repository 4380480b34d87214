// One check for "a JSON object" (not null, not an array), for code that
// reads request bodies and model files typed as unknown.

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
