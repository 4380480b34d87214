// Server-sent events exactly as OpenAI sends them. Completions and chat:
// `data: {json}\n\n` per chunk, `data: [DONE]\n\n` at the end, and an error
// as a data event followed by [DONE] (the status line has long been sent by
// then). The Responses API: `event: TYPE\ndata: {json}\n\n`, each event
// named by its `type`, and no [DONE].

import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { OpenAIErrorBody } from './errors.js';

export const SSE_DONE = 'data: [DONE]\n\n';

export function sseEvent(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/** An event named by its payload's `type` (the Responses API's framing). */
export function namedSseEvent(payload: { type: string }): string {
  return `event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`;
}

/** How a stream is framed: each chunk, an error that ends it, and its end (null: nothing). */
export interface SseFraming<T> {
  event: (payload: T) => string;
  error: (body: OpenAIErrorBody) => string;
  done: string | null;
}

/** Completions' and chat's framing. */
export const DATA_FRAMING: SseFraming<object> = { event: sseEvent, error: sseEvent, done: SSE_DONE };

export function sendSse<T>(reply: FastifyReply, chunks: AsyncIterable<T>, toError: (err: unknown) => OpenAIErrorBody | null, framing: SseFraming<T>): FastifyReply {
  async function* frames(): AsyncGenerator<string> {
    try {
      for await (const c of chunks) yield framing.event(c);
    } catch (err) {
      const body = toError(err);
      // null = the client is gone; nobody would read the error.
      if (body === null) return;
      yield framing.error(body);
    }
    if (framing.done !== null) yield framing.done;
  }
  return reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no')
    .send(Readable.from(frames(), { objectMode: false, highWaterMark: 1 }));
}
