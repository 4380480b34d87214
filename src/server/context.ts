// What every route plugin gets: the engine, the config, metrics and the
// server's lifecycle state. Passed as plugin options (no globals), so tests
// can run several servers in one process.

import { randomUUID } from 'node:crypto';
import type { Engine } from '../engine/types.js';
import type { ServeConfig } from '../config/options.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { Classifier } from './classifier.js';
import type { Encoder } from './encoder.js';
import type { ReasoningParserName } from './reasoning.js';
import type { ResponseStore } from './responses-store.js';
import type { ToolParserName } from './tool-parsers.js';
import { badRequest, HttpError, queueFull } from './errors.js';

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
  /** Reads tool calls for tool_choice "auto"; null: "auto" is refused. */
  toolParser: ToolParserName | null;
  /** Splits chat outputs' <think> thoughts into reasoning_content; null: off. */
  reasoningParser: ReasoningParserName | null;
  /** /v1/responses kept for previous_response_id (--responses-store-size). */
  responses: ResponseStore;
  /** --hf-overrides' classifier from token: /score and /rerank score with it; null: by cosine of embeddings. */
  classifier: Classifier | null;
}

/** The names the server answers to: the engine's, then the other --served-model-name names. */
export function servedNames(ctx: ServerContext): string[] {
  const name = ctx.engine.model.name;
  return [name, ...ctx.config.servedModelName.filter((n) => n !== name)];
}

export function checkModel(ctx: ServerContext, model: string | null | undefined): void {
  if (model == null || model === '') return;
  const names = servedNames(ctx);
  if (!names.includes(model)) throw new HttpError('model_not_found', [model, names.join('`, `')], { param: 'model' });
}

/**
 * The cheap early check, before any tokenizing work: 503 while shutting
 * down, 429 (Retry-After) when the waiting queue cannot take the request's
 * sequences (prompts x n). The engine checks the bound again at submission,
 * where it is enforced. A request that alone needs more sequences than the
 * queue may ever hold is a 400: retrying would never help.
 */
export function admit(ctx: ServerContext, numSeqs: number, param: string): void {
  if (ctx.state.shuttingDown) throw new HttpError('shutting_down');
  const limit = ctx.config.maxNumQueuedRequests;
  if (limit > 0 && numSeqs > limit) {
    throw badRequest(`This request needs ${numSeqs} sequences (prompts x n), more than --max-num-queued-requests (${limit}) lets wait.`, param);
  }
  if (!ctx.engine.canAdmit(numSeqs)) {
    ctx.metrics.rejected.inc();
    throw queueFull(ctx.engine.stats().numWaiting);
  }
}

export function newId(prefix: 'cmpl' | 'chatcmpl' | 'embd' | 'score' | 'rerank'): string {
  return `${prefix}-${randomUUID().replace(/-/g, '')}`;
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
