// What every route plugin gets: the engine, the config, metrics and the
// server's lifecycle state. Passed as plugin options (no globals), so tests
// can run several servers in one process.

import { randomUUID } from 'node:crypto';
import type { Engine } from '../engine/types.js';
import type { ServeConfig } from '../config/options.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { Encoder } from './encoder.js';
import { HttpError } from './errors.js';

export interface ServerState {
  shuttingDown: boolean;
}

export interface ServerContext {
  engine: Engine;
  config: ServeConfig;
  metrics: ServerMetrics;
  /** Prompt encoding, long texts off the event loop. */
  encoder: Encoder;
  state: ServerState;
  /** ms after which a busy engine without a step counts as stalled (/health). */
  stallThresholdMs: number;
}

export function checkModel(ctx: ServerContext, model: string | null | undefined): void {
  if (model == null || model === '') return;
  if (model !== ctx.engine.model.name) throw new HttpError('model_not_found', [model, ctx.engine.model.name], { param: 'model' });
}

/** 429 before any tokenizing work when the waiting queue is full. */
export function admit(ctx: ServerContext): void {
  if (ctx.state.shuttingDown) throw new HttpError('shutting_down');
  if (!ctx.engine.canAdmit()) {
    const waiting = ctx.engine.stats().numWaiting;
    const retryAfter = 1;
    ctx.metrics.rejected.inc();
    throw new HttpError('queue_full', [waiting, retryAfter], { headers: { 'retry-after': String(retryAfter) } });
  }
}

export function newId(prefix: 'cmpl' | 'chatcmpl'): string {
  return `${prefix}-${randomUUID().replace(/-/g, '')}`;
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
