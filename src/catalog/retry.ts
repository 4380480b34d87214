// Bounded retries with exponential backoff and jitter. Only failures marked
// transient (connection reset, stalled or short body, 5xx, 429) are retried;
// a 429's Retry-After is honoured (capped so a hostile header cannot park us).

import { setTimeout as sleep } from 'node:timers/promises';

export class TransientError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'TransientError';
    this.retryAfterMs = retryAfterMs;
  }
}

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  baseMs: number;
  maxMs: number;
  /** Upper bound for a server-given Retry-After. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 5, baseMs: 500, maxMs: 30_000, maxRetryAfterMs: 120_000 };

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
  return Math.floor(exp / 2 + Math.random() * (exp / 2));
}

/** Node/undici errors that mean the connection broke, not that the request was wrong. */
export function isNetworkError(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  if (!(err instanceof Error)) return false;
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return true;
  const codes = ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'];
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && codes.includes(code)) return true;
    if (e.message === 'terminated' || e.message === 'fetch failed' || e.message === 'other side closed') return true;
  }
  return false;
}

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  reason: string;
}

export async function withRetry<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>, onRetry?: (info: RetryInfo) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isNetworkError(err) || attempt >= policy.retries) throw err;
      const delayMs = backoffDelay(policy, attempt, err instanceof TransientError ? err.retryAfterMs : undefined);
      onRetry?.({ attempt: attempt + 1, delayMs, reason: err instanceof Error ? err.message : String(err) });
      await sleep(delayMs);
    }
  }
}
