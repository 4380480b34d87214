// What the end of a generation means for the client: a normal response, a
// timeout error, or nothing at all (the client is gone).

import type { FastifyReply } from 'fastify';
import type { RequestAbort } from './abort.js';
import { HttpError, type OpenAIErrorBody } from './errors.js';
import { toHttpError } from './error-map.js';
import type { TaggedOutput } from './generation.js';

/** Throws the error to report if the request was aborted, or returns false when nobody is listening. */
export function afterRun(abort: RequestAbort, timeoutS: number): boolean {
  const why = abort.reason();
  if (why === 'timeout') throw new HttpError('request_timeout', [timeoutS]);
  return why !== 'client_disconnect';
}

/** For a stream: the error event to send, or null if the client is gone. */
export function streamError(abort: RequestAbort, timeoutS: number, err: unknown, requestId: string): OpenAIErrorBody | null {
  const why = abort.reason();
  if (why === 'client_disconnect') return null;
  if (why === 'timeout') return new HttpError('request_timeout', [timeoutS]).body();
  return toHttpError(err, requestId).body();
}

/**
 * A non-streaming generation to its end: every output goes to `take`. True
 * when there is a client to answer; false when it is gone (the reply is
 * dropped). A timeout throws its error; an engine error thrown while nobody
 * aborted is rethrown.
 */
export async function collectOutputs(
  outputs: AsyncIterable<TaggedOutput>,
  take: (o: TaggedOutput) => void,
  abort: RequestAbort,
  timeoutS: number,
  reply: FastifyReply,
): Promise<boolean> {
  try {
    for await (const o of outputs) take(o);
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    abort.dispose();
  }
  if (afterRun(abort, timeoutS)) return true;
  reply.hijack();
  reply.raw.destroy();
  return false;
}
