// Server-sent events exactly as OpenAI sends them: `data: {json}\n\n` per
// chunk, `data: [DONE]\n\n` at the end, and an error as a data event
// followed by [DONE] (the status line has long been sent by then).

import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { OpenAIErrorBody } from './errors.js';

export const SSE_DONE = 'data: [DONE]\n\n';

export function sseEvent(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

export function sendSse(reply: FastifyReply, chunks: AsyncIterable<unknown>, toError: (err: unknown) => OpenAIErrorBody | null): FastifyReply {
  async function* frames(): AsyncGenerator<string> {
    try {
      for await (const c of chunks) yield sseEvent(c);
    } catch (err) {
      const body = toError(err);
      // null = the client is gone; nobody would read the error.
      if (body === null) return;
      yield sseEvent(body);
    }
    yield SSE_DONE;
  }
  return reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no')
    .send(Readable.from(frames(), { objectMode: false, highWaterMark: 1 }));
}
