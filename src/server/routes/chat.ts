// POST /v1/chat/completions: messages through the chat template, then the
// same generation path as completions, in chat's response shapes.

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { TokenLogprob } from '../../engine/types.js';
import { chatEnding, toChatMessages } from '../chat-template.js';
import { checkModel, newId, unixNow, type ServerContext } from '../context.js';
import { chatLogprobs, logprobsAsSent, vllmPromptLogprobs } from '../logprobs.js';
import { budgetTags } from '../reasoning.js';
import { toSamplingParams } from '../sampling.js';
import { ChatBody } from '../schemas.js';
import { outputFormat } from '../output-format.js';
import { ChoiceOutputReader, readChatText } from '../chat-output.js';
import { startChat } from '../chat-run.js';
import { toolFinish, toolPlan, type ToolCall } from '../tools.js';
import { rejectUnsupported } from '../unsupported.js';
import { badRequest } from '../errors.js';

export const chatRoute: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;
  app.post('/v1/chat/completions', { schema: { body: ChatBody } }, async (request, reply) => {
    const body = request.body;
    checkModel(ctx, body.model);
    rejectUnsupported(body, { chat: true });
    const plan = toolPlan(body, ctx.toolParser);
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
      thinkingTags: budgetTags(ctx.reasoningParser, engine.tokenizer),
      defaults: engine.model.samplingDefaults,
    });
    const id = newId('chatcmpl');
    const { run, started, how, guided } = await startChat(ctx, reply, {
      id,
      messages: toChatMessages(body.messages),
      ending: chatEnding(body),
      templateKwargs: body.chat_template_kwargs ?? null,
      plan,
      toolChoice: body.tool_choice,
      asked: outputFormat(body),
      params,
      maxTokens,
      truncate: body.truncate_prompt_tokens,
      oneCall: body.parallel_tool_calls === false,
      skipSpecialTokensGiven: body.skip_special_tokens != null,
      promptParam: 'messages',
    });
    // The client left before anything was submitted: the reply is dropped.
    if (!started) return reply;
    const created = unixNow();
    const model = engine.model.name;
    request.log.debug({ engineRequestId: id, promptTokens: run.choices.promptTokens }, 'generate');

    if (body.stream === true) {
      const includeUsage = body.stream_options?.include_usage === true;
      const running = includeUsage && body.stream_options?.continuous_usage_stats === true;
      const chunk = (choice: object): object => ({ id, object: 'chat.completion.chunk', created, model, choices: [choice], ...(includeUsage ? { usage: running ? run.choices.usage() : null } : {}) });
      // OpenAI opens every choice with the role and empty content.
      const head = Array.from({ length: params.n }, (_, i) => chunk({ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }));
      // Read text (how): thoughts as reasoning_content and content as they
      // come, each "auto" call once its block closes. A named or "required"
      // call's answer is held and sent as calls in the choice's last chunk
      // (a client accumulates tool_call deltas by index, so one delta with
      // all of the arguments is a valid stream).
      const readers = new Map<number, ChoiceOutputReader<TokenLogprob>>();
      return run.stream(request.id, {
        head,
        *chunks({ output }) {
          for (const d of output.deltas) {
            const final = d.finishReason !== null;
            let r = readers.get(d.index);
            if (r === undefined) {
              r = new ChoiceOutputReader<TokenLogprob>(how, guided);
              readers.set(d.index, r);
            }
            const first = r.numCalls;
            const { read, logprobs: lp } = r.read(d.text, final, d.logprobs ?? []);
            const called = r.numCalls > 0;
            if (read.reasoning === '' && read.content === '' && read.calls.length === 0 && !final && lp.length === 0) continue;
            const delta = {
              ...(read.reasoning !== '' ? { reasoning_content: read.reasoning } : {}),
              ...(read.content !== '' ? { content: read.content } : {}),
              ...(read.calls.length > 0 ? { tool_calls: read.calls.map((c, k) => ({ index: first + k, ...c })) } : {}),
            };
            const finish = plan === null || d.finishReason === null ? d.finishReason : toolFinish(plan.mode, called, d.finishReason);
            yield chunk({ index: d.index, delta, logprobs: wantLogprobs ? { content: chatLogprobs(shown(lp), topN) } : null, finish_reason: finish, stop_reason: d.stopReason });
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
        let calls: ToolCall[] | null = null;
        if (how !== null || guided !== null) {
          const read = readChatText(how, c.text, guided);
          calls = read.calls;
          message = {
            role: 'assistant',
            ...(how?.reasoning != null ? { reasoning_content: read.reasoning } : {}),
            content: read.content,
            ...(calls.length > 0 ? { tool_calls: calls } : {}),
          };
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
