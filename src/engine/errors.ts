// Errors the engine raises toward the server. Each has a stable code the
// server's error table maps to an HTTP status and an OpenAI error body.

export type EngineErrorCode =
  | 'HIPSERVE_ERR_INVALID_PARAM' // 400: a sampling parameter is out of range
  | 'HIPSERVE_ERR_EMPTY_PROMPT' // 400
  | 'HIPSERVE_ERR_PROMPT_TOO_LONG' // 400: prompt >= max-model-len
  | 'HIPSERVE_ERR_INVALID_TOKEN' // 400: a prompt token id outside the vocabulary
  | 'HIPSERVE_ERR_SHUTTING_DOWN' // 503: drain() was called
  | 'HIPSERVE_ERR_QUEUE_FULL' // 429: the waiting queue would exceed --max-num-queued-requests
  | 'HIPSERVE_ERR_CANNOT_FIT' // 500: the request cannot fit in the KV cache even alone
  | 'HIPSERVE_ERR_NATIVE' // 500: the native forward failed
  | 'HIPSERVE_ERR_ENGINE_LOOP'; // 500: the step loop kept crashing (LOOP_FAILURES_FAIL_PENDING)

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}
