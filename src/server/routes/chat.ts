// POST /v1/chat/completions: messages through the chat template, then the
// same generation path as completions, in chat's response shapes.

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { TokenGuide, TokenLogprob } from '../../engine/types.js';
import { chatEnding, renderChat, toChatMessages } from '../chat-template.js';
import { admit, checkModel, newId, unixNow, type ServerContext } from '../context.js';
import { chatLogprobs, logprobsAsSent, vllmPromptLogprobs } from '../logprobs.js';
import { RouteRun } from '../outcome.js';
import { checkTokenIds, resolveMaxTokens, truncatePrompt } from '../prompt.js';
import { toSamplingParams } from '../sampling.js';
import { ChatBody } from '../schemas.js';
import { outputFormat } from '../output-format.js';
import { ChatChoiceReader, readChatText, type ChatReadOptions } from '../chat-output.js';
import { afterThinking } from '../../guided/after-thinking.js';
import { promptOpensThinking, thinkingTokenIds } from '../reasoning.js';
import { guidedToolCalls, toolFinish, toolPlan } from '../tools.js';
import { rejectUnsupported } from '../unsupported.js';
import { badRequest } from '../errors.js';

export const chatRoute: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;
  app.post('/v1/chat/completions', { schema: { body: ChatBody } }, async (request, reply) => {
    const body = request.body;
    checkModel(ctx, body.model);
    rejectUnsupported(body, { chat: true });
    const plan = toolPlan(body, ctx.toolParser);
    const asked = outputFormat(body);
    if (plan !== null && asked !== null) throw badRequest(`tool_choice ${JSON.stringify(body.tool_choice ?? 'auto')} cannot be combined with ${asked.field}.`, asked.field);
    // Named and "required" are held to a grammar; with "auto" the model
    // writes freely and its calls are read out of its text by a parser.
    const guided = plan !== null && plan.mode.kind !== 'auto' ? plan.mode : null;
    const parser = plan !== null && plan.mode.kind === 'auto' ? plan.mode.parser : null;
    const format = guided !== null ? { spec: guided.spec, field: 'tool_choice' } : asked;
    const wantLogprobs = body.logprobs === true;
    // vLLM's return_tokens_as_token_ids: logprob tokens as "token_id:N".
    const shown = logprobsAsSent(body.return_tokens_as_token_ids === true);
    const topN = body.top_logprobs ?? 0;
    if (body.top_logprobs != null && !wantLogprobs) throw badRequest('top_logprobs requires logprobs to be true.', 'top_logprobs');
    const { params, maxTokens } = toSamplingParams(body, {
      vocabSize: engine.model.vocabSize,
      logprobs: wantLogprobs ? topN : null,
      logprobsParam: 'top_logprobs',
      maxTokensField: body.max_completion_tokens ?? body.max_tokens ?? null,
    });
    // As vLLM's parsers: the markers are special tokens in some
    // vocabularies ([TOOL_CALLS], <|python_tag|>, Hermes 2 Pro's
    // <tool_call>), which decoding would otherwise drop.
    if (parser !== null && body.skip_special_tokens == null) params.skipSpecialTokens = false;
    const messages = toChatMessages(body.messages);
    const ending = chatEnding(body);
    admit(ctx, params.n, 'n');

    const id = newId('chatcmpl');
    // Armed before the template and tokenizing (an await): a client gone meanwhile is seen.
    const run = new RouteRun(ctx, reply, params.n);
    let ids: number[] = [];
    // How each choice's text is read: thoughts apart (a reasoning parser;
    // not with a named or "required" tool call), calls read out ("auto");
    // null: the text is the content as it comes. Under response_format the
    // grammar then holds the answer after the thoughts (afterThinking).
    const thinkIds = ctx.reasoningParser !== null && guided === null ? thinkingTokenIds(engine.tokenizer) : null;
    // Thoughts are read apart unless a named or "required" call holds the
    // output; under response_format only where a guide can wait for
    // </think> (thinkIds: both tags one token each).
    const thinks = ctx.reasoningParser !== null && (format === null || thinkIds !== null);
    const reading: { how: ChatReadOptions | null } = { how: null };
    const started = await run.start(async () => {
      // The tools reach the template (vLLM's default) when one is to be called.
      const extra = plan !== null ? { ...(body.chat_template_kwargs ?? {}), tools: plan.tools } : (body.chat_template_kwargs ?? undefined);
      const rendered = await renderChat(engine, ctx.encoder, messages, ending, extra);
      ids = truncatePrompt(rendered.ids, body.truncate_prompt_tokens, engine.model.maxModelLen);
      checkTokenIds(ids, engine.model.vocabSize, 'messages');
      const opened = promptOpensThinking(rendered.text);
      if (thinks || parser !== null) reading.how = { reasoning: thinks ? { openedByPrompt: opened } : null, tools: parser, oneCall: body.parallel_tool_calls === false };
      const wrapGuide = format !== null && thinkIds !== null ? (g: TokenGuide) => afterThinking(g, { ...thinkIds, opened }) : undefined;
      return { prompts: [ids], maxTokens: resolveMaxTokens(ids.length, maxTokens, engine.model.maxModelLen), ...(wrapGuide !== undefined ? { wrapGuide } : {}) };
    }, params, id, format);
    // The client left before anything was submitted: the reply is dropped.
    if (!started) return reply;
    const created = unixNow();
    const model = engine.model.name;
    request.log.debug({ engineRequestId: id, promptTokens: ids.length }, 'generate');

    const how = reading.how;
    if (body.stream === true) {
      const includeUsage = body.stream_options?.include_usage === true;
      const running = includeUsage && body.stream_options?.continuous_usage_stats === true;
      const chunk = (choice: object): object => ({ id, object: 'chat.completion.chunk', created, model, choices: [choice], ...(includeUsage ? { usage: running ? run.choices.usage() : null } : {}) });
      // OpenAI opens every choice with the role and empty content.
      const head = Array.from({ length: params.n }, (_, i) => chunk({ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }));
      // Tool calls are sent whole, in the choice's last chunk: its text is
      // held until then (a client accumulates tool_call deltas by index, so
      // one delta with all of the arguments is a valid stream).
      const held = new Map<number, { text: string; logprobs: TokenLogprob[] }>();
      // Read text: thoughts as reasoning_content and content as they come,
      // each call ("auto") once its block closes.
      const readers = new Map<number, ChatChoiceReader>();
      return run.stream(request.id, {
        head,
        *chunks({ output }) {
          for (const d of output.deltas) {
            if (how !== null) {
              let r = readers.get(d.index);
              if (r === undefined) {
                r = new ChatChoiceReader(how);
                readers.set(d.index, r);
              }
              const first = r.numCalls;
              const read = r.read(d.text, d.finishReason !== null);
              const lp = d.logprobs ?? [];
              if (read.reasoning === '' && read.content === '' && read.calls.length === 0 && d.finishReason === null && lp.length === 0) continue;
              const delta = {
                ...(read.reasoning !== '' ? { reasoning_content: read.reasoning } : {}),
                ...(read.content !== '' ? { content: read.content } : {}),
                ...(read.calls.length > 0 ? { tool_calls: read.calls.map((c, k) => ({ index: first + k, ...c })) } : {}),
              };
              const finish = plan === null || d.finishReason === null ? d.finishReason : toolFinish(plan.mode, r.numCalls > 0, d.finishReason);
              yield chunk({ index: d.index, delta, logprobs: wantLogprobs ? { content: chatLogprobs(shown(lp), topN) } : null, finish_reason: finish, stop_reason: d.stopReason });
              continue;
            }
            if (guided !== null) {
              const h = held.get(d.index) ?? { text: '', logprobs: [] };
              held.set(d.index, h);
              h.text += d.text;
              h.logprobs.push(...(d.logprobs ?? []));
              if (d.finishReason === null) continue;
              const calls = guidedToolCalls(guided, h.text);
              const delta = calls !== null ? { tool_calls: calls.map((c, k) => ({ index: k, ...c })) } : { content: h.text };
              const logprobs = wantLogprobs ? { content: chatLogprobs(shown(h.logprobs), topN) } : null;
              yield chunk({ index: d.index, delta, logprobs, finish_reason: toolFinish(guided, calls !== null && calls.length > 0, d.finishReason), stop_reason: d.stopReason });
              continue;
            }
            if (d.text === '' && d.finishReason === null && (d.logprobs ?? []).length === 0) continue;
            const delta = d.text === '' ? {} : { content: d.text };
            const logprobs = wantLogprobs ? { content: chatLogprobs(shown(d.logprobs ?? []), topN) } : null;
            yield chunk({ index: d.index, delta, logprobs, finish_reason: d.finishReason, stop_reason: d.stopReason });
          }
        },
        usage: includeUsage ? (c) => ({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: c.usage() }) : null,
      });
    }

    // The client gone: nothing to send.
    if (!(await run.collect())) return reply;
    return {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: run.choices.all().map((c) => {
        let message: object = { role: 'assistant', content: c.text };
        let calls = null;
        if (how !== null) {
          const read = readChatText(how, c.text);
          calls = read.calls;
          message = {
            role: 'assistant',
            ...(how.reasoning !== null ? { reasoning_content: read.reasoning } : {}),
            content: read.content,
            ...(calls.length > 0 ? { tool_calls: calls } : {}),
          };
        } else if (guided !== null) {
          calls = guidedToolCalls(guided, c.text);
          if (calls !== null) message = { role: 'assistant', content: null, tool_calls: calls };
        }
        return {
          index: c.index,
          message,
          logprobs: wantLogprobs ? { content: chatLogprobs(shown(c.logprobs), topN) } : null,
          finish_reason: plan !== null ? toolFinish(plan.mode, calls !== null && calls.length > 0, c.finishReason) : c.finishReason,
          stop_reason: c.stopReason,
        };
      }),
      usage: run.choices.usage(),
      // vLLM's extension: the rendered prompt's tokens scored.
      ...(body.prompt_logprobs != null ? { prompt_logprobs: vllmPromptLogprobs(run.choices.prompts.get(0)?.logprobs ?? [], body.prompt_logprobs) } : {}),
    };
  });
  done();
};
