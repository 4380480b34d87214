// Any thrown thing -> an HttpError from the table. Fastify's own errors
// (validation, body limit, bad JSON, media type) are recognised by code;
// anything else is a 500 whose details stay in the log.

import { badRequest, HttpError, queueFull } from './errors.js';

interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  validation?: { instancePath?: string; message?: string; keyword?: string; params?: Record<string, unknown> }[];
  validationContext?: string;
}

function namesOf(v: unknown): string {
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ');
  return typeof v === 'string' ? v : '';
}

function paramOf(instancePath: string | undefined): string | null {
  if (instancePath === undefined || instancePath === '') return null;
  return instancePath.replace(/^\//, '').replace(/\//g, '.');
}

/** The engine's EngineError codes (src/engine/errors.ts), matched by code so server/ does not import engine internals. */
function fromEngine(e: { code?: unknown; message?: unknown; param?: unknown }): HttpError | null {
  const message = typeof e.message === 'string' ? e.message : '';
  const param = typeof e.param === 'string' ? e.param : null;
  switch (e.code) {
    case 'HIPSERVE_ERR_INVALID_PARAM':
    case 'HIPSERVE_ERR_EMPTY_PROMPT':
    case 'HIPSERVE_ERR_PROMPT_TOO_LONG':
    case 'HIPSERVE_ERR_INVALID_TOKEN':
      return badRequest(message, param);
    case 'HIPSERVE_ERR_SHUTTING_DOWN':
      return new HttpError('shutting_down');
    case 'HIPSERVE_ERR_QUEUE_FULL':
      return queueFull('?');
    case 'HIPSERVE_ERR_CANNOT_FIT':
      return new HttpError('cannot_fit', [message]);
    default:
      return null;
  }
}

export function toHttpError(err: unknown, requestId: string, maxBodySize = 0): HttpError {
  if (err instanceof HttpError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as FastifyLikeError & { param?: unknown };
  const engine = fromEngine(e);
  if (engine !== null) return engine;
  if (Array.isArray(e.validation) && e.validation.length > 0) {
    // anyOf failures list every branch; the deepest path names the field best.
    const first = [...e.validation].sort((a, b) => (b.instancePath ?? '').length - (a.instancePath ?? '').length)[0];
    const param = paramOf(first.instancePath);
    const what = param === null ? 'The request body' : `'${param}'`;
    if (first.keyword === 'required') {
      // The full path of the missing field, as for any other field (messages.0.role).
      const missing = namesOf(first.params?.requiredProperties ?? first.params?.missingProperty).split(', ').map((m) => (param === null ? m : `${param}.${m}`));
      return badRequest(`Missing required field${missing.length > 1 ? 's' : ''} '${missing.join("', '")}'`, missing[0]);
    }
    return badRequest(`${what} ${first.message ?? 'is invalid'}`, param);
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError('body_too_large', [maxBodySize]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError('unsupported_media_type', ['(unknown)']);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError('invalid_json', ['the body is empty']);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return badRequest('The Content-Length header does not match the body');
    case 'HIPSERVE_ERR_INVALID_UTF8':
      return new HttpError('invalid_utf8');
    default:
      break;
  }
  if (err instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new HttpError('invalid_json', [typeof e.message === 'string' ? e.message : 'parse error']);
  }
  return new HttpError('internal_error', [requestId]);
}
