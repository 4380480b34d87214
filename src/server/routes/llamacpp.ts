// llama.cpp's own completion endpoint (POST /completion, and /completions
// as llama.cpp also names it), for clients written against llama.cpp's
// server: its field names (n_predict, repeat_penalty, n_probs, grammar,
// json_schema, logit_bias as pairs), its sampling defaults (temperature
// 0.8, top_k 40, top_p 0.95, min_p 0.05), and its answer: `content`, `stop`,
// `stop_type`, token counts, `timings`, `completion_probabilities`;
// streamed as `data:` lines of the same objects, the last one with
// `stop: true` and no [DONE]. One prompt (text or token ids) a request.
// GET /props: the context size, defaults, slots and chat template.
// POST /infill: fill-in-the-middle with llama.cpp's input_prefix and
// input_suffix, where the model has FIM tokens.
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type, type Static } from 'typebox';
import type { FinishReason, RequestTimings, TokenLogprob } from '../../engine/types.js';
import { isRecord } from '../../is-record.js';
import { admit, newId, type ServerContext } from '../context.js';
import { badRequest } from '../errors.js';
import { RouteRun } from '../outcome.js';
import { outputFormat } from '../output-format.js';
import { checkTokenIds, resolveMaxTokens } from '../prompt.js';
import { toSamplingParams } from '../sampling.js';
import { FIM_NAMES, fimPrompt, fimTokens } from '../fim.js';
import { bytesOf } from '../logprobs.js';
import { Nullable } from '../schemas.js';
import { sseEvent } from '../sse.js';
import { packageVersion } from '../version.js';

export const LlamaCompletionBody = Type.Object({
  prompt: Type.Union([Type.String(), Type.Array(Type.Integer())]),
  n_predict: Nullable(Type.Integer()),
  // llama.cpp reads max_tokens when n_predict is not given.
  max_tokens: Nullable(Type.Integer()),
  temperature: Nullable(Type.Number()),
  top_k: Nullable(Type.Integer()),
  top_p: Nullable(Type.Number()),
  min_p: Nullable(Type.Number()),
  repeat_penalty: Nullable(Type.Number()),
  presence_penalty: Nullable(Type.Number()),
  frequency_penalty: Nullable(Type.Number()),
  seed: Nullable(Type.Integer()),
  stop: Nullable(Type.Array(Type.String())),
  ignore_eos: Nullable(Type.Boolean()),
  n_probs: Nullable(Type.Integer()),
  stream: Nullable(Type.Boolean()),
  return_tokens: Nullable(Type.Boolean()),
  // Typed loosely: [[id or text, bias or false], ...] or {"id": bias}; checked below.
  logit_bias: Type.Optional(Type.Unknown()),
  grammar: Type.Optional(Type.Unknown()),
  json_schema: Type.Optional(Type.Unknown()),
});
type LlamaCompletionBody = Static<typeof LlamaCompletionBody>;

const { prompt: _prompt, ...completionFields } = LlamaCompletionBody.properties;
export const LlamaInfillBody = Type.Object({
  ...completionFields,
  input_prefix: Nullable(Type.String()),
  input_suffix: Nullable(Type.String()),
  input_extra: Type.Optional(Type.Unknown()),
  // The start of the middle (after <mid>), as llama.cpp takes it.
  prompt: Nullable(Type.String()),
});

/** llama.cpp's server defaults (common_params_sampling). */
const DEFAULTS = { temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, repeat_penalty: 1 };

/** logit_bias in llama.cpp's forms as OpenAI's map: a text's every token gets the bias; false bans (-100). */
function logitBias(raw: unknown, encode: (text: string) => number[]): Record<string, number> | null {
  if (raw === undefined || raw === null) return null;
  const out: Record<string, number> = {};
  const put = (key: unknown, value: unknown, at: string): void => {
    const bias = value === false ? -100 : value;
    if (typeof bias !== 'number') throw badRequest(`${at}: a bias must be a number or false, got ${JSON.stringify(value)}.`, 'logit_bias');
    const ids = typeof key === 'number' ? [key] : typeof key === 'string' && /^\d+$/.test(key) ? [Number(key)] : typeof key === 'string' ? encode(key) : null;
    if (ids === null) throw badRequest(`${at}: a token must be an id or a text, got ${JSON.stringify(key)}.`, 'logit_bias');
    for (const id of ids) out[String(id)] = bias;
  };
  if (Array.isArray(raw)) {
    raw.forEach((pair: unknown, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw badRequest(`logit_bias.${i} must be a [token, bias] pair.`, 'logit_bias');
      put(pair[0], pair[1], `logit_bias.${i}`);
    });
  } else if (isRecord(raw)) {
    for (const [k, v] of Object.entries(raw)) put(k, v, `logit_bias.${k}`);
  } else {
    throw badRequest('logit_bias must be a list of [token, bias] pairs or an object.', 'logit_bias');
  }
  return out;
}

/** A token as llama.cpp's completion_probabilities list it. */
function probability(lp: TokenLogprob, n: number): object {
  return {
    id: lp.tokenId,
    token: lp.token,
    bytes: bytesOf(lp.token),
    logprob: lp.logprob,
    top_logprobs: lp.top.slice(0, n).map((t) => ({ id: t.tokenId, token: t.token, bytes: bytesOf(t.token), logprob: t.logprob })),
  };
}

/** llama.cpp's timings from the engine's (milliseconds; the prefill, then the decode). */
function timings(t: RequestTimings | null, promptN: number, predictedN: number): object {
  const start = t?.firstScheduled ?? t?.arrival ?? 0;
  const first = t?.firstToken ?? start;
  const end = t?.finished ?? performance.now();
  const promptMs = Math.max(0, first - start);
  const predictedMs = Math.max(0, end - first);
  return {
    prompt_n: promptN,
    prompt_ms: promptMs,
    prompt_per_token_ms: promptN > 0 ? promptMs / promptN : 0,
    prompt_per_second: promptMs > 0 ? (1000 * promptN) / promptMs : 0,
    predicted_n: predictedN,
    predicted_ms: predictedMs,
    predicted_per_token_ms: predictedN > 0 ? predictedMs / predictedN : 0,
    predicted_per_second: predictedMs > 0 ? (1000 * predictedN) / predictedMs : 0,
  };
}

/** How the choice ended, in llama.cpp's words. */
function stopType(c: { finishReason: FinishReason | null; stopReason: string | number | null }): { stop_type: string; stopping_word: string } {
  if (c.finishReason === 'length') return { stop_type: 'limit', stopping_word: '' };
  if (c.finishReason === 'stop' && typeof c.stopReason === 'string') return { stop_type: 'word', stopping_word: c.stopReason };
  if (c.finishReason === 'stop') return { stop_type: 'eos', stopping_word: '' };
  return { stop_type: 'none', stopping_word: '' };
}

export const llamaCppRoutes: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;
  const encode = (text: string, add: boolean): Promise<number[]> => ctx.encoder.encode(text, add);
  /**
   * One request of /completion or /infill: `body` its fields (its prompt
   * aside), `promptIds` tokenizes its prompt once the run is armed (a
   * client gone meanwhile is seen), `promptText` is the answer's `prompt`
   * (null: the ids' text).
   */
  const handler = async (
    body: Omit<LlamaCompletionBody, 'prompt'>,
    promptIds: () => Promise<number[]>,
    promptText: string | null,
    reply: FastifyReply,
    requestId: string,
  ): Promise<unknown> => {
    const nPredict = body.n_predict ?? body.max_tokens ?? -1;
    if (nPredict === 0 || nPredict < -1) throw badRequest(`n_predict must be -1 (until the end of the context) or at least 1, got ${nPredict}.`, 'n_predict');
    const nProbs = body.n_probs ?? 0;
    const seed = body.seed ?? -1;
    const { params, maxTokens } = toSamplingParams(
      {
        temperature: body.temperature ?? DEFAULTS.temperature,
        top_k: body.top_k ?? DEFAULTS.top_k,
        top_p: body.top_p ?? DEFAULTS.top_p,
        min_p: body.min_p ?? DEFAULTS.min_p,
        repetition_penalty: body.repeat_penalty ?? DEFAULTS.repeat_penalty,
        presence_penalty: body.presence_penalty,
        frequency_penalty: body.frequency_penalty,
        // llama.cpp's -1 (and 0xFFFFFFFF) draw a seed.
        seed: seed === -1 || seed === 0xffffffff ? null : seed,
        stop: body.stop,
        ignore_eos: body.ignore_eos,
        logit_bias: logitBias(body.logit_bias, (text) => engine.tokenizer.encode(text, false)),
        stream: body.stream,
      },
      { vocabSize: engine.model.vocabSize, logprobs: nProbs > 0 ? nProbs : null, logprobsParam: 'n_probs', maxTokensField: nPredict === -1 ? null : nPredict },
    );
    const format = outputFormat(body);
    admit(ctx, 1, 'prompt');
    const id = newId('cmpl');
    const run = new RouteRun(ctx, reply, 1);
    let ids: number[] = [];
    const started = await run.start(async () => {
      ids = await promptIds();
      checkTokenIds(ids, engine.model.vocabSize, 'prompt');
      return { prompts: [ids], maxTokens: resolveMaxTokens(ids.length, maxTokens, engine.model.maxModelLen) };
    }, params, id, format);
    if (!started) return reply;
    const { choices } = run;
    const settings = {
      n_predict: nPredict,
      seed,
      temperature: params.temperature,
      top_k: params.topK,
      top_p: params.topP,
      min_p: params.minP,
      repeat_penalty: params.repetitionPenalty,
      presence_penalty: params.presencePenalty,
      frequency_penalty: params.frequencyPenalty,
      stop: params.stop,
      ignore_eos: params.ignoreEos,
      n_probs: nProbs,
    };
    /**
     * The closing object: `content`, `tokens` and `probs` are what it
     * carries (a stream's last piece, or the whole text); `text` and
     * `predicted` the whole output's.
     */
    const final = (end: { finishReason: FinishReason | null; stopReason: string | number | null }, text: string, predicted: number, content: string, tokens: number[], probs: readonly TokenLogprob[]): object => ({
      index: 0,
      content,
      tokens: body.return_tokens === true ? tokens : [],
      id_slot: 0,
      stop: true,
      model: engine.model.name,
      tokens_predicted: predicted,
      tokens_evaluated: ids.length,
      generation_settings: settings,
      prompt: promptText ?? engine.tokenizer.decode(ids, false),
      has_new_line: text.includes('\n'),
      truncated: false,
      ...stopType(end),
      tokens_cached: choices.cachedTokens(),
      timings: timings(choices.timings, ids.length, predicted),
      ...(nProbs > 0 ? { completion_probabilities: probs.map((lp) => probability(lp, nProbs)) } : {}),
    });
    if (body.stream === true) {
      return run.stream(requestId, {
        // The run books each output into `choices` before its chunks: the counts include the delta's own.
        *chunks({ output }) {
          for (const d of output.deltas) {
            const c = choices.get(0);
            const predicted = c.tokenIds.length;
            if (d.finishReason !== null) {
              yield final(d, c.text, predicted, d.text, d.tokenIds, d.logprobs ?? []);
              continue;
            }
            if (d.text === '' && d.tokenIds.length === 0) continue;
            yield {
              index: 0,
              content: d.text,
              tokens: body.return_tokens === true ? d.tokenIds : [],
              stop: false,
              id_slot: -1,
              tokens_predicted: predicted,
              tokens_evaluated: ids.length,
              ...(nProbs > 0 ? { completion_probabilities: (d.logprobs ?? []).map((lp) => probability(lp, nProbs)) } : {}),
            };
          }
        },
        usage: null,
        framing: { event: sseEvent, error: sseEvent, done: null },
      });
    }
    if (!(await run.collect())) return reply;
    const c = choices.get(0);
    return final(c, c.text, c.tokenIds.length, c.text, c.tokenIds, c.logprobs);
  };
  // llama.cpp's /props (its web UI and clients read the context size and template here).
  app.get('/props', () => ({
    default_generation_settings: {
      n_ctx: engine.model.maxModelLen,
      params: { n_predict: -1, seed: -1, ...DEFAULTS, presence_penalty: 0, frequency_penalty: 0, n_probs: 0, stop: [], ignore_eos: false },
    },
    total_slots: ctx.config.maxNumSeqs,
    model_path: ctx.config.model ?? engine.model.name,
    chat_template: engine.tokenizer.chatTemplateText ?? '',
    modalities: { vision: false, audio: false },
    build_info: `hipserve ${packageVersion()}`,
  }));
  // llama.cpp's /infill: input_prefix <gap> input_suffix, the middle started with `prompt` (fim.ts).
  app.post('/infill', { schema: { body: LlamaInfillBody } }, async (request, reply) => {
    const { input_prefix: prefix, input_suffix: suffix, input_extra: extra, prompt, ...rest } = request.body;
    const fim = fimTokens(engine.tokenizer);
    if (fim === null) throw badRequest(`/infill needs a model with FIM tokens (${FIM_NAMES}); this model's vocabulary has none of these sets.`, 'input_prefix');
    if (Array.isArray(extra) && extra.length > 0) throw badRequest('input_extra (repository context) is not supported by this server.', 'input_extra');
    const ids = async (): Promise<number[]> => [...(await fimPrompt(encode, fim, prefix ?? '', suffix ?? '')), ...(prompt ? await encode(prompt, false) : [])];
    return handler(rest, ids, null, reply, request.id);
  });
  const completion = (request: { body: LlamaCompletionBody; id: string }, reply: FastifyReply): Promise<unknown> => {
    const { prompt, ...rest } = request.body;
    const ids = (): Promise<number[]> => (typeof prompt === 'string' ? encode(prompt, true) : Promise.resolve(prompt));
    return handler(rest, ids, typeof prompt === 'string' ? prompt : null, reply, request.id);
  };
  app.post('/completion', { schema: { body: LlamaCompletionBody } }, completion);
  app.post('/completions', { schema: { body: LlamaCompletionBody } }, completion);
  done();
};
