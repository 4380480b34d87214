// SamplingParams: defaults and validation with messages a user can act on.
// Ranges follow vLLM's SamplingParams checks.
import { EngineError } from './errors.js';
import { MAX_LOGIT_BIAS, MAX_N, type SamplingParams } from './types.js';

export const DEFAULT_SAMPLING: Readonly<SamplingParams> = Object.freeze({
  n: 1,
  maxTokens: 16,
  minTokens: 0,
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
  repetitionPenalty: 1,
  seed: null,
  stop: [],
  stopTokenIds: [],
  includeStopStrInOutput: false,
  ignoreEos: false,
  logprobs: null,
  skipSpecialTokens: true,
  priority: 0,
  logitBias: null,
  promptLogprobs: null,
});

/** Upper bound on top-N logprobs, as vLLM's default max_logprobs. */
export const MAX_LOGPROBS = 20;
export { MAX_N };

function check(cond: boolean, param: string, message: string): void {
  if (!cond) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', message, param);
}

function isInt(x: number): boolean {
  return Number.isInteger(x);
}

/**
 * Fills defaults and validates. `maxTokensCap` is what the context leaves for
 * output (max_model_len - prompt length); maxTokens defaults to it when absent.
 */
export function resolveSamplingParams(
  partial: Partial<SamplingParams> | undefined,
  vocabSize: number,
  maxTokensCap: number,
): SamplingParams {
  const p: SamplingParams = { ...DEFAULT_SAMPLING, maxTokens: maxTokensCap, ...stripUndefined(partial ?? {}) };
  check(isInt(p.n) && p.n >= 1 && p.n <= MAX_N, 'n', `n must be an integer in [1, ${MAX_N}], got ${p.n}`);
  check(isInt(p.maxTokens) && p.maxTokens >= 1, 'max_tokens', `max_tokens must be an integer >= 1, got ${p.maxTokens}`);
  check(
    p.maxTokens <= maxTokensCap,
    'max_tokens',
    `max_tokens is ${p.maxTokens} but the prompt leaves room for only ${maxTokensCap} tokens in the model's context`,
  );
  check(isInt(p.minTokens) && p.minTokens >= 0, 'min_tokens', `min_tokens must be an integer >= 0, got ${p.minTokens}`);
  check(p.minTokens <= p.maxTokens, 'min_tokens', `min_tokens (${p.minTokens}) must not exceed max_tokens (${p.maxTokens})`);
  check(Number.isFinite(p.temperature) && p.temperature >= 0 && p.temperature <= 100, 'temperature', `temperature must be in [0, 100], got ${p.temperature}`);
  check(Number.isFinite(p.topP) && p.topP > 0 && p.topP <= 1, 'top_p', `top_p must be in (0, 1], got ${p.topP}`);
  check(isInt(p.topK) && p.topK >= -1, 'top_k', `top_k must be -1 (off), 0 (off) or a positive integer, got ${p.topK}`);
  check(Number.isFinite(p.minP) && p.minP >= 0 && p.minP <= 1, 'min_p', `min_p must be in [0, 1], got ${p.minP}`);
  check(Number.isFinite(p.presencePenalty) && Math.abs(p.presencePenalty) <= 2, 'presence_penalty', `presence_penalty must be in [-2, 2], got ${p.presencePenalty}`);
  check(Number.isFinite(p.frequencyPenalty) && Math.abs(p.frequencyPenalty) <= 2, 'frequency_penalty', `frequency_penalty must be in [-2, 2], got ${p.frequencyPenalty}`);
  check(Number.isFinite(p.repetitionPenalty) && p.repetitionPenalty > 0 && p.repetitionPenalty <= 10, 'repetition_penalty', `repetition_penalty must be in (0, 10], got ${p.repetitionPenalty}`);
  if (p.seed !== null) {
    check(isInt(p.seed) && Number.isSafeInteger(p.seed), 'seed', `seed must be an integer, got ${p.seed}`);
  }
  check(Array.isArray(p.stop) && p.stop.every((s) => typeof s === 'string' && s.length > 0), 'stop', 'stop must be a list of non-empty strings');
  check(p.stop.length <= 16, 'stop', `at most 16 stop strings are allowed, got ${p.stop.length}`);
  check(
    p.stopTokenIds.every((t) => isInt(t) && t >= 0 && t < vocabSize),
    'stop_token_ids',
    `stop_token_ids must be token ids in [0, ${vocabSize})`,
  );
  if (p.logprobs !== null) {
    check(isInt(p.logprobs) && p.logprobs >= 0 && p.logprobs <= MAX_LOGPROBS, 'logprobs', `logprobs must be an integer in [0, ${MAX_LOGPROBS}], got ${p.logprobs}`);
  }
  check(isInt(p.priority), 'priority', `priority must be an integer, got ${p.priority}`);
  if (p.promptLogprobs !== null) {
    check(
      isInt(p.promptLogprobs) && p.promptLogprobs >= 0 && p.promptLogprobs <= MAX_LOGPROBS,
      'prompt_logprobs',
      `prompt_logprobs must be an integer in [0, ${MAX_LOGPROBS}], got ${p.promptLogprobs}`,
    );
  }
  if (p.logitBias !== null) {
    checkLogitBias(p.logitBias, vocabSize, (ok, message) => {
      check(ok, 'logit_bias', message);
    });
  }
  const allowed = p.allowedTokenIds ?? null;
  if (allowed !== null) {
    check(allowed.length > 0 && allowed.every((t) => isInt(t) && t >= 0 && t < vocabSize), 'allowed_token_ids', `allowed_token_ids must be a non-empty list of token ids in [0, ${vocabSize})`);
    // Both would need two kinds of bans at once within a multi-step call.
    check(p.minTokens === 0, 'allowed_token_ids', 'allowed_token_ids cannot be combined with min_tokens');
    check((p.badWords ?? []).length === 0, 'bad_words', 'bad_words cannot be combined with allowed_token_ids (ban the words by leaving their tokens out)');
  }
  if (p.badWords !== undefined && p.badWords !== null) {
    check(Array.isArray(p.badWords) && p.badWords.every((w) => typeof w === 'string'), 'bad_words', 'bad_words must be a list of strings');
  }
  const budget = p.thinkingBudget ?? null;
  if (budget !== null) {
    check(isInt(budget.tokens) && budget.tokens >= 0, 'thinking_token_budget', `thinking_token_budget must be an integer >= 0, got ${budget.tokens}`);
    const tag = (ids: readonly number[]): boolean => ids.length > 0 && ids.every((t) => isInt(t) && t >= 0 && t < vocabSize);
    check(tag(budget.start) && tag(budget.end), 'thinking_token_budget', `the thinking tags must be non-empty lists of token ids in [0, ${vocabSize})`);
  }
  if (p.topK === -1) p.topK = 0;
  return p;
}

/**
 * The checks of a logit_bias map, shared with the HTTP layer (its messages
 * name the field as the client spelled it): keys decimal token ids inside the
 * vocabulary, each once; values finite and within [-100, 100]; at most
 * MAX_LOGIT_BIAS entries. `fail(ok, message)` must throw when ok is false.
 */
export function checkLogitBias(bias: unknown, vocabSize: number, fail: (ok: boolean, message: string) => void): void {
  fail(typeof bias === 'object' && bias !== null && !Array.isArray(bias), 'logit_bias must be an object mapping token ids to values');
  const entries = Object.entries(bias as Record<string, unknown>);
  fail(entries.length <= MAX_LOGIT_BIAS, `logit_bias may hold at most ${MAX_LOGIT_BIAS} tokens, got ${entries.length}`);
  const seen = new Set<number>();
  for (const [key, value] of entries) {
    const id = /^\d{1,10}$/.test(key) ? Number(key) : NaN;
    fail(Number.isInteger(id) && id < vocabSize, `logit_bias keys must be token ids in [0, ${vocabSize}), got ${JSON.stringify(key)}`);
    fail(!seen.has(id), `logit_bias names token ${id} twice`);
    seen.add(id);
    fail(
      typeof value === 'number' && Number.isFinite(value) && value >= -100 && value <= 100,
      `logit_bias values must be numbers in [-100, 100], got ${JSON.stringify(value)} for token ${id}`,
    );
  }
}

/** A validated logit_bias as the step carries it: ids ascending, one value each. */
export function logitBiasArrays(bias: Readonly<Record<number, number>>): { ids: number[]; values: number[] } {
  const pairs = Object.entries(bias).map(([k, v]) => [Number(k), v] as const);
  pairs.sort((a, b) => a[0] - b[0]);
  return { ids: pairs.map((p) => p[0]), values: pairs.map((p) => p[1]) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

/** A prompt's token ids against the model: not empty, room left for output, every id in the vocabulary. */
export function checkPromptIds(ids: readonly number[], vocabSize: number, maxModelLen: number, embedding = false): void {
  if (ids.length === 0) throw new EngineError('HIPSERVE_ERR_EMPTY_PROMPT', 'the prompt is empty', 'prompt');
  if (embedding && ids.length > maxModelLen) {
    // An embedding generates nothing: its input may fill the context (vLLM's wording).
    throw new EngineError(
      'HIPSERVE_ERR_PROMPT_TOO_LONG',
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${ids.length} tokens in the input for embedding generation. Please reduce the length of the input.`,
      'input',
    );
  }
  if (!embedding && ids.length >= maxModelLen) {
    throw new EngineError(
      'HIPSERVE_ERR_PROMPT_TOO_LONG',
      `This model's maximum context length is ${maxModelLen} tokens. However, your prompt has ${ids.length} tokens, which leaves no room for output.`,
      'prompt',
    );
  }
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new EngineError('HIPSERVE_ERR_INVALID_TOKEN', `token id ${id} is outside the vocabulary [0, ${vocabSize})`, 'prompt');
    }
  }
}

/** The ids of [0, vocabSize) not in `ids`, ascending (what allowed_token_ids bans). */
export function idsOutside(ids: readonly number[], vocabSize: number): number[] {
  const keep = new Uint8Array(vocabSize);
  for (const id of ids) keep[id] = 1;
  const out: number[] = [];
  for (let id = 0; id < vocabSize; id++) if (keep[id] === 0) out.push(id);
  return out;
}
