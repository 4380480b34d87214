// Prompt checks that need token ids: emptiness, vocabulary, and the context
// length (prompt + max_tokens <= max-model-len, as vLLM enforces).

import { badRequest, HttpError } from './errors.js';

export function checkTokenIds(ids: readonly number[], vocabSize: number, param: string): void {
  if (ids.length === 0) throw badRequest('The prompt cannot be empty.', param);
  for (const id of ids) {
    if (id < 0 || id >= vocabSize) throw badRequest(`Token id ${id} is out of vocabulary (size ${vocabSize}).`, param);
  }
}

/** The max_tokens to run with: the client's, else whatever room the context has left. */
export function resolveMaxTokens(promptLen: number, requested: number | null, maxModelLen: number): number {
  const completion = requested ?? maxModelLen - promptLen;
  if (promptLen + Math.max(completion, 1) > maxModelLen) {
    throw new HttpError('context_length_exceeded', [maxModelLen, promptLen + Math.max(completion, 1), promptLen, Math.max(completion, 1)], {
      param: requested === null ? 'prompt' : 'max_tokens',
    });
  }
  return completion;
}
