// API keys (--api-key / HIPSERVE_API_KEY): "Authorization: Bearer KEY" (or
// "x-api-key: KEY", as Anthropic's SDK sends it) on
// every route but the health checks (and /metrics unless
// --metrics-require-auth). Compared in constant time: both sides are hashed
// to equal-length digests and every configured key is compared, so neither
// the length nor the position of a match leaks through timing.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function keyMatcher(keys: readonly string[]): (presented: string) => boolean {
  const digests = keys.map(digest);
  return (presented) => {
    const d = digest(presented);
    let ok = false;
    for (const k of digests) ok = timingSafeEqual(d, k) || ok;
    return ok;
  };
}

export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m ? m[1].trim() : null;
}

export interface AuthOptions {
  keys: readonly string[];
  metricsRequireAuth: boolean;
}

const OPEN = new Set(['/health', '/health/live', '/ping']);

/** Installs the check on the root instance (a plain hook rather than an encapsulated plugin, so it covers every route). */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
    if (opts.keys.length === 0) return;
    const matches = keyMatcher(opts.keys);
    app.addHook('onRequest', (request, _reply, done) => {
      const path = request.url.split('?')[0];
      const open = OPEN.has(path) || request.method === 'OPTIONS' || (path === '/metrics' && !opts.metricsRequireAuth);
      // Anthropic's SDK sends its key as x-api-key (llama.cpp's server takes both too).
      const xKey = request.headers['x-api-key'];
      const token = bearerToken(request.headers.authorization) ?? (typeof xKey === 'string' && xKey !== '' ? xKey : null);
      if (!open && (token === null || !matches(token))) done(new HttpError('invalid_api_key'));
      else done();
    });
}
