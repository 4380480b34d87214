// What the end of a generation means for the client: a normal response, a
// timeout error, or nothing at all (the client is gone).

import type { RequestAbort } from './abort.js';
import { HttpError, type OpenAIErrorBody } from './errors.js';
import { toHttpError } from './error-map.js';

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
