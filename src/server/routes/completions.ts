// POST /v1/completions: prompts as text, texts, ids or lists of ids; n, echo
// (with logprobs: the prompt's tokens scored first, as OpenAI does; with
// max_tokens 0: the prompt alone), logprobs, stop; max_tokens 16 unless
// given (OpenAI's and vLLM's default); a JSON response or an SSE stream.

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { admit, checkModel, newId, unixNow, type ServerContext } from '../context.js';
import { appendCompletionLogprobs, appendPromptLogprobs, emptyCompletionLogprobs, logprobsAsSent, tokenIdText, vllmPromptLogprobs, withTokenId, type CompletionLogprobs } from '../logprobs.js';
import { badRequest } from '../errors.js';
import { RouteRun } from '../outcome.js';
import { checkTokenIds, COMPLETIONS_DEFAULT_MAX_TOKENS, resolveMaxTokens, truncatePrompt } from '../prompt.js';
import { budgetTags } from '../reasoning.js';
import { FIM_NAMES, fimPrompt, fimTokens } from '../fim.js';
import { toSamplingParams } from '../sampling.js';
import { CompletionBody } from '../schemas.js';
import { outputFormat } from '../output-format.js';
import { rejectUnsupported } from '../unsupported.js';

function promptList(prompt: CompletionBody['prompt']): (string | number[])[] {
  if (typeof prompt === 'string') return [prompt];
  if (prompt.length === 0) return [];
  if (typeof prompt[0] === 'number') return [prompt as number[]];
  return prompt as (string | number[])[];
}

export const completionsRoute: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;
  app.post('/v1/completions', { schema: { body: CompletionBody } }, async (request, reply) => {
    const body = request.body;
    checkModel(ctx, body.model);
    rejectUnsupported(body, { chat: false });
    const format = outputFormat(body);
    const topN = body.logprobs ?? null;
    const echo = body.echo ?? false;
    // Echo with max_tokens 0 (scoring a text, as vLLM allows): one token is
    // generated, since the prefill samples one anyway, and left out.
    const promptOnly = echo && body.max_tokens === 0;
    // Echo with logprobs scores the prompt too (the engine's prompt logprobs).
    const { params, maxTokens } = toSamplingParams(body, {
      vocabSize: engine.model.vocabSize,
      logprobs: topN,
      promptLogprobs: echo && topN !== null ? topN : null,
      thinkingTags: budgetTags(ctx.reasoningParser, engine.tokenizer),
      defaults: engine.model.samplingDefaults,
      ...(promptOnly ? { maxTokensField: 1 } : {}),
    });
    const prompts = promptList(body.prompt);
    if (prompts.length === 0) throw badRequest('The prompt cannot be empty.', 'prompt');
    // suffix: fill-in-the-middle, each prompt the text before the gap.
    const suffix = typeof body.suffix === 'string' && body.suffix !== '' ? body.suffix : null;
    const fim = suffix === null ? null : fimTokens(engine.tokenizer);
    if (suffix !== null) {
      if (fim === null) throw badRequest(`suffix (fill-in-the-middle) needs a model with FIM tokens (${FIM_NAMES}); this model's vocabulary has none of these sets.`, 'suffix');
      if (prompts.some((p) => typeof p !== 'string')) throw badRequest('suffix needs the prompt as text (the text before the gap), not token ids.', 'suffix');
      if (echo) throw badRequest('echo cannot be combined with suffix.', 'echo');
    }
    admit(ctx, prompts.length * params.n, prompts.length > 1 ? 'prompt' : 'n');

    const id = newId('cmpl');
    // Armed before tokenizing (an await): a client gone meanwhile is seen.
    const run = new RouteRun(ctx, reply, params.n);
    run.choices.promptOnly = promptOnly;
    let ids: number[][] = [];
    let truncated: boolean[] = [];
    const started = await run.start(async () => {
      const encode = (text: string, add: boolean): Promise<number[]> => ctx.encoder.encode(text, add);
      const encoded = await Promise.all(
        prompts.map((p) => (typeof p !== 'string' ? Promise.resolve(p) : fim !== null && suffix !== null ? fimPrompt(encode, fim, p, suffix) : encode(p, true))),
      );
      ids = encoded.map((p) => truncatePrompt(p, body.truncate_prompt_tokens, engine.model.maxModelLen));
      truncated = ids.map((p, i) => p.length < encoded[i].length);
      let runMax = Infinity;
      for (const p of ids) {
        checkTokenIds(p, engine.model.vocabSize, 'prompt');
        runMax = Math.min(runMax, resolveMaxTokens(p.length, maxTokens, engine.model.maxModelLen, COMPLETIONS_DEFAULT_MAX_TOKENS));
      }
      return { prompts: ids, maxTokens: runMax };
    }, params, id, format);
    // The client left before anything was submitted: the reply is dropped.
    if (!started) return reply;
    // Echo shows the prompt that ran: a truncated one as its tokens' text.
    const promptTexts = echo ? prompts.map((p, i) => (typeof p === 'string' && !truncated[i] ? p : engine.tokenizer.decode(ids[i], false))) : [];
    const created = unixNow();
    const model = engine.model.name;
    const { choices } = run;
    request.log.debug({ engineRequestId: id, prompts: ids.length, promptTokens: choices.promptTokens }, 'generate');

    // vLLM's return_tokens_as_token_ids: logprob tokens as "token_id:N".
    const asIds = body.return_tokens_as_token_ids === true;
    const tokenToString = (id: number): string => (asIds ? tokenIdText(id) : engine.tokenizer.tokenToString(id));
    const shown = logprobsAsSent(asIds);
    /** Echo with logprobs: a choice's logprobs start with its prompt's; returns the text offset after them. */
    const promptPart = (lp: CompletionLogprobs, promptIndex: number): number => {
      const p = choices.prompts.get(promptIndex);
      return p === undefined || topN === null ? 0 : appendPromptLogprobs(lp, p.tokenIds, asIds ? p.logprobs.map((e) => e && withTokenId(e)) : p.logprobs, tokenToString, topN);
    };

    if (body.stream === true) {
      const includeUsage = body.stream_options?.include_usage === true;
      const running = includeUsage && body.stream_options?.continuous_usage_stats === true;
      const offsets = new Map<number, number>();
      return run.stream(request.id, {
        *chunks({ promptIndex, output }) {
          choices.notePrompt(promptIndex, output);
          for (const d of output.deltas) {
            const index = choices.indexOf(promptIndex, d);
            const state = choices.get(index);
            let text = promptOnly ? '' : d.text;
            let lp: CompletionLogprobs | null = null;
            if (topN !== null) {
              lp = emptyCompletionLogprobs();
              const start = !state.started && echo ? promptPart(lp, promptIndex) : (offsets.get(index) ?? 0);
              offsets.set(index, appendCompletionLogprobs(lp, promptOnly ? [] : shown(d.logprobs ?? []), start, topN));
            }
            if (!state.started && echo) text = promptTexts[promptIndex] + text;
            // A delta whose text is held back (a possible stop string, a split
            // UTF-8 character) still carries its tokens' logprobs: send it.
            if (text === '' && d.finishReason === null && state.started && (lp === null || lp.tokens.length === 0)) continue;
            state.started = true;
            const choice = { index, text, logprobs: lp, finish_reason: d.finishReason, stop_reason: d.stopReason };
            yield { id, object: 'text_completion', created, model, choices: [choice], ...(includeUsage ? { usage: running ? run.choices.usage() : null } : {}) };
          }
        },
        usage: includeUsage ? (c) => ({ id, object: 'text_completion', created, model, choices: [], usage: c.usage() }) : null,
      });
    }

    // The client gone: nothing to send.
    if (!(await run.collect())) return reply;
    return {
      id,
      object: 'text_completion',
      created,
      model,
      choices: choices.all().map((c) => {
        const promptIndex = Math.floor(c.index / params.n);
        let logprobs: CompletionLogprobs | null = null;
        if (topN !== null) {
          logprobs = emptyCompletionLogprobs();
          appendCompletionLogprobs(logprobs, shown(c.logprobs), echo ? promptPart(logprobs, promptIndex) : 0, topN);
        }
        const prompt = choices.prompts.get(promptIndex);
        const promptLogprobs = body.prompt_logprobs != null && prompt !== undefined ? { prompt_logprobs: vllmPromptLogprobs(prompt.logprobs, body.prompt_logprobs) } : {};
        return {
          index: c.index,
          text: (echo ? promptTexts[promptIndex] : '') + c.text,
          logprobs,
          finish_reason: c.finishReason,
          stop_reason: c.stopReason,
          ...promptLogprobs,
        };
      }),
      usage: choices.usage(),
    };
  });
  done();
};
