// OpenAI fields this server cannot honour. Accepting them silently would
// hand back something other than what was asked for (text instead of a
// function call), so each is a 400 naming the field. Their neutral values
// (null, [], "none") are accepted, as clients often send them by default.
// (response_format is honoured: output-format.ts; tools on chat: tools.ts.)

import { badRequest } from './errors.js';

export interface MaybeUnsupported {
  tools?: unknown;
  tool_choice?: unknown;
  functions?: unknown;
  function_call?: unknown;
  suffix?: unknown;
  best_of?: unknown;
  use_beam_search?: unknown;
  chat_template?: unknown;
  echo?: unknown;
}

function unsupported(field: string, what: string, only?: string): never {
  throw badRequest(`${what} is not supported by this server${only === undefined ? '' : `; only ${only} is`}.`, field);
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

/** A JSON value as the client sent it. */
const shown = (v: unknown): string => JSON.stringify(v);

/**
 * `body` is any request body: unknown fields pass the schemas, so a
 * completions body can carry these too; tools are served on chat only.
 */
export function rejectUnsupported(request: object, opts: { chat: boolean }): void {
  const body = request as MaybeUnsupported;
  if (!opts.chat) {
    if (!isEmpty(body.tools)) unsupported('tools', 'Tool calling (tools) on /v1/completions', '/v1/chat/completions');
    const tc = body.tool_choice;
    if (tc !== undefined && tc !== null && tc !== 'none') unsupported('tool_choice', `tool_choice ${shown(tc)} on /v1/completions`, '"none"');
  }
  // best_of > n picks the n likeliest of best_of samples (vLLM's V1 engine dropped it too); n samples are served.
  if (body.best_of !== undefined && body.best_of !== null && body.best_of !== 1) unsupported('best_of', `best_of ${shown(body.best_of)}`, 'best_of 1 (use n for several samples)');
  if (body.use_beam_search === true) unsupported('use_beam_search', 'Beam search (use_beam_search)');
  if (opts.chat) {
    // Fill-in-the-middle is served on /v1/completions (fim.ts); chat has no such field.
    if (typeof body.suffix === 'string' && body.suffix !== '') unsupported('suffix', 'suffix (fill-in-the-middle) on chat', '/v1/completions');
    // vLLM's per-request template: the server's is the one served (--chat-template replaces it).
    if (typeof body.chat_template === 'string' && body.chat_template !== '') unsupported('chat_template', 'A chat_template in the request', 'the server\'s (--chat-template)');
    if (body.echo === true) unsupported('echo', 'echo on /v1/chat/completions', '/v1/completions');
  }
  if (!isEmpty(body.functions)) unsupported('functions', 'Function calling (functions)');
  const fc = body.function_call;
  if (fc !== undefined && fc !== null && fc !== 'none') unsupported('function_call', `function_call ${shown(fc)}`, '"none"');
}
