// Prompt checks that need token ids: emptiness, vocabulary, and the context
// length (prompt + max_tokens <= max-model-len, as vLLM enforces).

import { badRequest, HttpError } from './errors.js';

export function checkTokenIds(ids: readonly number[], vocabSize: number, param: string): void {
  if (ids.length === 0) throw badRequest('The prompt cannot be empty.', param);
  for (const id of ids) {
    if (id < 0 || id >= vocabSize) throw badRequest(`Token id ${id} is out of vocabulary (size ${vocabSize}).`, param);
  }
}

/**
 * vLLM's truncate_prompt_tokens: only the prompt's last `k` tokens are run
 * (-1: the last max-model-len of them); null leaves it whole.
 */
export function truncatePrompt(ids: number[], k: number | null | undefined, maxModelLen: number): number[] {
  if (k === null || k === undefined) return ids;
  if (k !== -1 && k < 1) throw badRequest(`truncate_prompt_tokens must be -1 or at least 1; got ${k}.`, 'truncate_prompt_tokens');
  const keep = k === -1 ? maxModelLen : k;
  return ids.length > keep ? ids.slice(ids.length - keep) : ids;
}

/** vLLM's and OpenAI's max_tokens on /v1/completions when the client gives none. */
export const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

/**
 * The max_tokens to run with. The client's must fit in the context with the
 * prompt (else context_length_exceeded, param max_tokens). Without one:
 * `defaultMax` (completions: 16) capped by the room the context has left,
 * or with no default (chat) all of that room, as vLLM does; a prompt that
 * leaves no room is context_length_exceeded on param prompt.
 */
export function resolveMaxTokens(promptLen: number, requested: number | null, maxModelLen: number, defaultMax: number | null = null): number {
  const room = maxModelLen - promptLen;
  const completion = requested ?? (defaultMax === null ? room : Math.min(defaultMax, room));
  if (promptLen + Math.max(completion, 1) > maxModelLen) {
    throw new HttpError('context_length_exceeded', [maxModelLen, promptLen + Math.max(completion, 1), promptLen, Math.max(completion, 1)], {
      param: requested === null ? 'prompt' : 'max_tokens',
    });
  }
  return completion;
}
