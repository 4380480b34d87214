// POST /v1/completions: prompts as text, texts, ids or lists of ids; n, echo,
// logprobs, stop; a JSON response or an SSE stream.

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { admit, checkModel, newId, unixNow, type ServerContext } from '../context.js';
import { appendCompletionLogprobs, appendPromptTokens, emptyCompletionLogprobs, type CompletionLogprobs } from '../logprobs.js';
import { badRequest } from '../errors.js';
import { RouteRun } from '../outcome.js';
import { checkTokenIds, resolveMaxTokens } from '../prompt.js';
import { toSamplingParams } from '../sampling.js';
import { CompletionBody } from '../schemas.js';

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
    const topN = body.logprobs ?? null;
    const { params, maxTokens } = toSamplingParams(body, { vocabSize: engine.model.vocabSize, logprobs: topN });
    const prompts = promptList(body.prompt);
    if (prompts.length === 0) throw badRequest('The prompt cannot be empty.', 'prompt');
    admit(ctx);

    const ids = await Promise.all(prompts.map((p) => (typeof p === 'string' ? ctx.encoder.encode(p, true) : Promise.resolve(p))));
    let runMax = Infinity;
    for (const p of ids) {
      checkTokenIds(p, engine.model.vocabSize, 'prompt');
      runMax = Math.min(runMax, resolveMaxTokens(p.length, maxTokens, engine.model.maxModelLen));
    }
    const echo = body.echo ?? false;
    const promptTexts = echo ? prompts.map((p) => (typeof p === 'string' ? p : engine.tokenizer.decode(p, false))) : [];

    const id = newId('cmpl');
    const created = unixNow();
    const model = engine.model.name;
    const run = new RouteRun(ctx, reply, ids, params, runMax, id);
    const { choices } = run;
    request.log.debug({ engineRequestId: id, prompts: ids.length, promptTokens: choices.promptTokens }, 'generate');

    if (body.stream === true) {
      const includeUsage = body.stream_options?.include_usage === true;
      const offsets = new Map<number, number>();
      return run.stream(request.id, {
        *chunks({ promptIndex, output }) {
          for (const d of output.deltas) {
            const index = choices.indexOf(promptIndex, d);
            const state = choices.get(index);
            let text = d.text;
            let lp: CompletionLogprobs | null = null;
            if (topN !== null) {
              lp = emptyCompletionLogprobs();
              let off = offsets.get(index) ?? 0;
              if (!state.started && echo) off = appendPromptTokens(lp, ids[promptIndex].map((t) => engine.tokenizer.tokenToString(t)), off);
              off = appendCompletionLogprobs(lp, d.logprobs ?? [], off, topN);
              offsets.set(index, off);
            }
            if (!state.started && echo) text = promptTexts[promptIndex] + text;
            if (text === '' && d.finishReason === null && state.started) continue;
            state.started = true;
            const choice = { index, text, logprobs: lp, finish_reason: d.finishReason, stop_reason: d.stopReason };
            yield { id, object: 'text_completion', created, model, choices: [choice], ...(includeUsage ? { usage: null } : {}) };
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
          const off = echo ? appendPromptTokens(logprobs, ids[promptIndex].map((t) => engine.tokenizer.tokenToString(t)), 0) : 0;
          appendCompletionLogprobs(logprobs, c.logprobs, off, topN);
        }
        return { index: c.index, text: (echo ? promptTexts[promptIndex] : '') + c.text, logprobs, finish_reason: c.finishReason, stop_reason: c.stopReason };
      }),
      usage: choices.usage(),
    };
  });
  done();
};
