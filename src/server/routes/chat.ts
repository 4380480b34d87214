// POST /v1/chat/completions: messages through the chat template, then the
// same generation path as completions, in chat's response shapes.

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { requestAbort } from '../abort.js';
import { renderChat, toChatMessages } from '../chat-template.js';
import { Choices } from '../choices.js';
import { admit, checkModel, newId, unixNow, type ServerContext } from '../context.js';
import { runPrompts, type TaggedOutput } from '../generation.js';
import { chatLogprobs } from '../logprobs.js';
import { afterRun, collectOutputs, streamError } from '../outcome.js';
import { checkTokenIds, resolveMaxTokens } from '../prompt.js';
import { toSamplingParams } from '../sampling.js';
import { ChatBody } from '../schemas.js';
import { sendSse } from '../sse.js';
import { badRequest } from '../errors.js';

export const chatRoute: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;
  app.post('/v1/chat/completions', { schema: { body: ChatBody } }, async (request, reply) => {
    const body = request.body;
    checkModel(ctx, body.model);
    const wantLogprobs = body.logprobs === true;
    const topN = body.top_logprobs ?? 0;
    if (body.top_logprobs != null && !wantLogprobs) throw badRequest('top_logprobs requires logprobs to be true.', 'top_logprobs');
    const { params, maxTokens } = toSamplingParams(body, {
      vocabSize: engine.model.vocabSize,
      logprobs: wantLogprobs ? topN : null,
      maxTokensField: body.max_completion_tokens ?? body.max_tokens ?? null,
    });
    const messages = toChatMessages(body.messages);
    admit(ctx);

    const ids = await renderChat(engine, ctx.encoder, messages, body.add_generation_prompt ?? true, body.chat_template_kwargs ?? undefined);
    checkTokenIds(ids, engine.model.vocabSize, 'messages');
    const runMax = resolveMaxTokens(ids.length, maxTokens, engine.model.maxModelLen);

    const id = newId('chatcmpl');
    const created = unixNow();
    const model = engine.model.name;
    const abort = requestAbort(reply, ctx.config.requestTimeoutS, (why) => { ctx.metrics.abort(why); });
    const choices = new Choices(params.n);
    choices.promptTokens = ids.length;
    let outputs: ReturnType<typeof runPrompts>;
    try {
      outputs = runPrompts(engine, [ids], { ...params, maxTokens: runMax }, abort.signal, id);
    } catch (err) {
      // Rejected by the engine's own validation: nothing runs, answer with the error.
      abort.dispose();
      throw err;
    }
    request.log.debug({ engineRequestId: id, promptTokens: ids.length }, 'generate');

    if (body.stream === true) {
      const includeUsage = body.stream_options?.include_usage === true;
      const chunk = (choice: object): object => ({ id, object: 'chat.completion.chunk', created, model, choices: [choice], ...(includeUsage ? { usage: null } : {}) });
      async function* chunks(): AsyncGenerator<object> {
        try {
          // OpenAI opens every choice with the role and empty content.
          for (let i = 0; i < params.n; i++) {
            choices.get(i).started = true;
            yield chunk({ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
          }
          for await (const { output } of outputs) {
            for (const d of output.deltas) {
              choices.add(d.index, d);
              if (d.text === '' && d.finishReason === null && (d.logprobs ?? []).length === 0) continue;
              const delta = d.text === '' ? {} : { content: d.text };
              const logprobs = wantLogprobs ? { content: chatLogprobs(d.logprobs ?? [], topN) } : null;
              yield chunk({ index: d.index, delta, logprobs, finish_reason: d.finishReason, stop_reason: d.stopReason });
            }
          }
          afterRun(abort, ctx.config.requestTimeoutS);
          if (includeUsage) yield { id, object: 'chat.completion.chunk', created, model, choices: [], usage: choices.usage() };
        } finally {
          abort.dispose();
        }
      }
      return sendSse(reply, chunks(), (err) => streamError(abort, ctx.config.requestTimeoutS, err, request.id));
    }

    const take = ({ output }: TaggedOutput): void => {
      for (const d of output.deltas) choices.add(d.index, d);
    };
    // The client gone: nothing to send.
    if (!(await collectOutputs(outputs, take, abort, ctx.config.requestTimeoutS, reply))) return reply;
    return {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: choices.all().map((c) => ({
        index: c.index,
        message: { role: 'assistant', content: c.text },
        logprobs: wantLogprobs ? { content: chatLogprobs(c.logprobs, topN) } : null,
        finish_reason: c.finishReason,
        stop_reason: c.stopReason,
      })),
      usage: choices.usage(),
    };
  });
  done();
};
