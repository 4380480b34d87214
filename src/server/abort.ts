// One AbortSignal per HTTP request, fired when the client goes away, when
// --request-timeout passes, or when shutdown gives up on it.
//
// The client's disconnect is read from the *response* ('close' before the
// response finished). The request stream's own 'close' is no use for a
// non-streaming request: it fires as soon as the body has been read.
// Routes arm it before any await (tokenizing); a client already gone when it
// is armed (its 'close' has fired, or its socket is destroyed and the event
// is still queued) aborts it at once.

import type { FastifyReply } from 'fastify';

export type AbortReason = 'client_disconnect' | 'timeout' | 'cancelled';

export interface RequestAbort {
  signal: AbortSignal;
  reason(): AbortReason | null;
  dispose(): void;
  /** Stops watching the client (a background run outlives its request); the timeout stays. */
  detach(): void;
  /** Ends the run on the server's word (a background response cancelled). */
  cancel(): void;
}

export function requestAbort(reply: FastifyReply, timeoutS: number, onAbort: (reason: AbortReason) => void): RequestAbort {
  const controller = new AbortController();
  let why: AbortReason | null = null;
  const fire = (reason: AbortReason): void => {
    if (controller.signal.aborted) return;
    why = reason;
    onAbort(reason);
    controller.abort(new Error(reason));
  };
  const res = reply.raw;
  const onClose = (): void => {
    if (!res.writableFinished) fire('client_disconnect');
  };
  res.on('close', onClose);
  if (!res.writableFinished && (res.destroyed || res.socket?.destroyed === true)) fire('client_disconnect');
  const timer = timeoutS > 0 ? setTimeout(() => { fire('timeout'); }, timeoutS * 1000) : null;
  return {
    signal: controller.signal,
    reason: () => why,
    dispose: () => {
      res.off('close', onClose);
      if (timer !== null) clearTimeout(timer);
    },
    detach: () => {
      res.off('close', onClose);
    },
    cancel: () => {
      fire('cancelled');
    },
  };
}
