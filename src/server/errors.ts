// The one table of HTTP errors. Every error a client can see comes from
// here, with a stable code, a status, OpenAI's error `type`, and a message
// template (%s / %d are filled in order). A test checks codes are unique and
// every entry is documented.

export interface ErrorSpec {
  status: number;
  type: string;
  template: string;
  /** What causes it and what the client should do; the documentation of the code. */
  doc: string;
}

export const ERRORS = {
  invalid_request: { status: 400, type: 'invalid_request_error', template: '%s', doc: 'A field has the wrong type or an out-of-range value; `param` names the field.' },
  invalid_json: { status: 400, type: 'invalid_request_error', template: 'The request body is not valid JSON: %s', doc: 'The body could not be parsed as JSON.' },
  invalid_utf8: { status: 400, type: 'invalid_request_error', template: 'The request body is not valid UTF-8', doc: 'The body contains bytes that are not UTF-8; JSON must be UTF-8.' },
  context_length_exceeded: {
    status: 400,
    type: 'invalid_request_error',
    template: "This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the prompt, %d for the completion). Please reduce the length of the prompt or completion.",
    doc: 'Prompt tokens plus max_tokens exceed --max-model-len.',
  },
  invalid_api_key: { status: 401, type: 'authentication_error', template: 'Incorrect or missing API key. Send it as "Authorization: Bearer KEY".', doc: 'The server was started with --api-key and the request carried no matching key.' },
  model_not_found: { status: 404, type: 'not_found_error', template: 'The model `%s` does not exist. This server serves `%s`.', doc: 'The request named a model other than --served-model-name.' },
  route_not_found: { status: 404, type: 'not_found_error', template: 'No route %s %s', doc: 'Unknown path or method.' },
  response_not_found: {
    status: 404,
    type: 'not_found_error',
    template: 'Response %s not found: %s',
    doc: 'GET or DELETE /v1/responses/{id} (or GET its input_items) of a response not kept: none are unless --responses-store-size is set, and then only the newest N that were created with store not false and not deleted.',
  },
  request_timeout: { status: 408, type: 'timeout_error', template: 'The request took longer than %d s and was aborted', doc: 'The request ran past --request-timeout; it was aborted and its KV blocks freed.' },
  body_too_large: { status: 413, type: 'invalid_request_error', template: 'The request body is larger than %d bytes', doc: 'The body exceeded --max-body-size.' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', template: 'Unsupported content type %s; send application/json', doc: 'The body was not JSON.' },
  queue_full: { status: 429, type: 'rate_limit_error', template: 'The server is at capacity (%s sequences waiting); retry after %d s', doc: 'The waiting queue (in sequences: prompts x n) would exceed --max-num-queued-requests; the response carries Retry-After.' },
  cannot_fit: { status: 500, type: 'server_error', template: '%s', doc: 'The request needs more KV-cache blocks than the whole cache holds; lower max_tokens or n, or give the server more --kv-cache-memory.' },
  internal_error: { status: 500, type: 'server_error', template: 'Internal server error (request %s)', doc: 'A bug or an engine failure; details are in the server log under the request id.' },
  not_ready: { status: 503, type: 'service_unavailable_error', template: 'The server is not ready: %s', doc: 'The model is loading or the engine loop has stalled (see /health).' },
  shutting_down: { status: 503, type: 'service_unavailable_error', template: 'The server is shutting down', doc: 'SIGTERM/SIGINT was received; no new requests are taken.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function format(template: string, args: readonly (string | number)[]): string {
  let i = 0;
  return template.replace(/%[sd]/g, () => String(args[i++] ?? ''));
}

/** An error meant for the client, rendered by the one error handler. */
export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  constructor(
    readonly code: ErrorCode,
    args: readonly (string | number)[] = [],
    opts: { param?: string | null; headers?: Record<string, string> } = {},
  ) {
    const spec: ErrorSpec = ERRORS[code];
    super(format(spec.template, args));
    this.name = 'HttpError';
    this.status = spec.status;
    this.type = spec.type;
    this.param = opts.param ?? null;
    this.headers = opts.headers ?? {};
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** Shorthand for the common 400 naming one field. */
export function badRequest(message: string, param: string | null = null): HttpError {
  return new HttpError('invalid_request', [message], { param });
}

/** Seconds a client told the queue is full should wait (Retry-After). */
export const QUEUE_RETRY_AFTER_S = 1;

/** The 429 for a full waiting queue, with Retry-After. */
export function queueFull(numWaiting: number | string): HttpError {
  return new HttpError('queue_full', [numWaiting, QUEUE_RETRY_AFTER_S], { headers: { 'retry-after': String(QUEUE_RETRY_AFTER_S) } });
}
