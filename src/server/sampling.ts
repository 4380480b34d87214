// OpenAI/vLLM request fields -> the engine's SamplingParams, with range
// checks whose messages follow vLLM's ("top_p must be in (0, 1], got 0.").

import { checkLogitBias } from '../engine/params.js';
import { MAX_N, type SamplingDefaults, type SamplingParams } from '../engine/types.js';
import { badRequest } from './errors.js';
import type { ThinkingTags } from './reasoning.js';

/** vLLM's default --max-logprobs. */
export const MAX_LOGPROBS = 20;
/** The engine's bound on choices per request (each one is a sequence in the batch), checked here with the route's message. */
export { MAX_N };

export interface SamplingFields {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  seed?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  repetition_penalty?: number | null;
  ignore_eos?: boolean | null;
  min_tokens?: number | null;
  skip_special_tokens?: boolean | null;
  include_stop_str_in_output?: boolean | null;
  priority?: number | null;
  logit_bias?: Record<string, number> | null;
  prompt_logprobs?: number | null;
  allowed_token_ids?: number[] | null;
  thinking_token_budget?: number | null;
  bad_words?: string[] | null;
  stream?: boolean | null;
}

function check(ok: boolean, param: string, message: string): void {
  if (!ok) throw badRequest(message, param);
}

/**
 * Validates and maps the fields. `maxTokens` is left null when the client
 * gave none: it depends on the prompt length (see resolveMaxTokens).
 */
export function toSamplingParams(
  body: SamplingFields,
  opts: {
    vocabSize: number;
    logprobs: number | null;
    maxTokensField?: number | null;
    logprobsParam?: string;
    promptLogprobs?: number | null;
    /** The tags thinking_token_budget counts between (reasoning.ts budgetTags); null or absent: the field is refused. */
    thinkingTags?: ThinkingTags | null;
    /** The field the budget came in, for its errors (Anthropic's thinking.budget_tokens). */
    budgetParam?: string;
    /** The model's generation-config defaults for unset fields (ModelInfo.samplingDefaults). */
    defaults?: SamplingDefaults;
  },
): { params: Omit<SamplingParams, 'maxTokens'>; maxTokens: number | null } {
  const maxTokens = opts.maxTokensField ?? body.max_tokens ?? null;
  const n = body.n ?? 1;
  const d = opts.defaults ?? {};
  const temperature = body.temperature ?? d.temperature ?? 1;
  const topP = body.top_p ?? d.topP ?? 1;
  const topK = body.top_k ?? d.topK ?? 0;
  const minP = body.min_p ?? d.minP ?? 0;
  const presence = body.presence_penalty ?? 0;
  const frequency = body.frequency_penalty ?? 0;
  const repetition = body.repetition_penalty ?? d.repetitionPenalty ?? 1;
  const minTokens = body.min_tokens ?? 0;
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const stopTokenIds = body.stop_token_ids ?? [];

  check(n >= 1, 'n', `n must be at least 1, got ${n}.`);
  check(n <= MAX_N, 'n', `n must be at most ${MAX_N}, got ${n}.`);
  check(maxTokens === null || maxTokens >= 1, 'max_tokens', `max_tokens must be at least 1, got ${maxTokens}.`);
  check(temperature >= 0, 'temperature', `temperature must be non-negative, got ${temperature}.`);
  check(topP > 0 && topP <= 1, 'top_p', `top_p must be in (0, 1], got ${topP}.`);
  check(topK === -1 || topK >= 0, 'top_k', `top_k must be 0 or -1 (disable), or at least 1, got ${topK}.`);
  check(minP >= 0 && minP <= 1, 'min_p', `min_p must be in [0, 1], got ${minP}.`);
  check(presence >= -2 && presence <= 2, 'presence_penalty', `presence_penalty must be in [-2, 2], got ${presence}.`);
  check(frequency >= -2 && frequency <= 2, 'frequency_penalty', `frequency_penalty must be in [-2, 2], got ${frequency}.`);
  check(repetition > 0 && repetition <= 2, 'repetition_penalty', `repetition_penalty must be in (0, 2], got ${repetition}.`);
  check(minTokens >= 0, 'min_tokens', `min_tokens must be greater than or equal to 0, got ${minTokens}.`);
  check(maxTokens === null || minTokens <= maxTokens, 'min_tokens', `min_tokens must be less than or equal to max_tokens=${maxTokens}, got ${minTokens}.`);
  check(
    opts.logprobs === null || (opts.logprobs >= 0 && opts.logprobs <= MAX_LOGPROBS),
    opts.logprobsParam ?? 'logprobs',
    `Requested ${opts.logprobsParam ?? 'logprobs'} of ${opts.logprobs}, which is not in [0, ${MAX_LOGPROBS}].`,
  );
  check(body.seed == null || Number.isSafeInteger(body.seed), 'seed', 'seed must be a safe integer.');
  for (const id of stopTokenIds) {
    check(id >= 0 && id < opts.vocabSize, 'stop_token_ids', `stop_token_ids must be token ids in [0, ${opts.vocabSize}), got ${id}.`);
  }
  for (const s of stop) check(s.length > 0, 'stop', 'stop strings must not be empty.');
  const promptField = body.prompt_logprobs ?? null;
  if (promptField !== null) {
    check(promptField >= 0 && promptField <= MAX_LOGPROBS, 'prompt_logprobs', `Requested prompt_logprobs of ${promptField}, which is not in [0, ${MAX_LOGPROBS}].`);
    check(body.stream !== true, 'prompt_logprobs', 'prompt_logprobs are not available when stream is enabled.');
  }
  // One N for the engine: the larger of the field's and the route's own (echo with logprobs).
  const promptLogprobs = Math.max(promptField ?? -1, opts.promptLogprobs ?? -1);
  const bias = body.logit_bias ?? null;
  if (bias !== null) {
    checkLogitBias(bias, opts.vocabSize, (ok, message) => {
      check(ok, 'logit_bias', `${message}.`);
    });
  }

  const budget = body.thinking_token_budget ?? null;
  const budgetParam = opts.budgetParam ?? 'thinking_token_budget';
  const tags = opts.thinkingTags ?? null;
  if (budget !== null) {
    check(budget >= 0, budgetParam, `${budgetParam} must be a non-negative integer, got ${budget}.`);
    check(
      tags !== null,
      budgetParam,
      `${budgetParam} needs a reasoning model: this server reads no <think> blocks for this model (its chat template writes none, or --reasoning-parser is none).`,
    );
  }

  return {
    maxTokens,
    params: {
      n,
      minTokens,
      temperature,
      topP,
      topK: topK === -1 ? 0 : topK,
      minP,
      presencePenalty: presence,
      frequencyPenalty: frequency,
      repetitionPenalty: repetition,
      seed: body.seed ?? null,
      stop,
      stopTokenIds,
      includeStopStrInOutput: body.include_stop_str_in_output ?? false,
      ignoreEos: body.ignore_eos ?? false,
      logprobs: opts.logprobs,
      skipSpecialTokens: body.skip_special_tokens ?? true,
      priority: body.priority ?? 0,
      logitBias: bias === null || Object.keys(bias).length === 0 ? null : bias,
      promptLogprobs: promptLogprobs >= 0 ? promptLogprobs : null,
      allowedTokenIds: body.allowed_token_ids ?? null,
      badWords: body.bad_words ?? null,
      thinkingBudget: budget !== null && tags !== null ? { tokens: budget, start: tags.start, end: tags.end } : null,
    },
  };
}
