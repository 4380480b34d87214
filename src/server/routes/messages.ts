// POST /v1/messages: Anthropic's Messages API over the chat path
// (chat-run.ts), as llama.cpp's server and vLLM serve it, for clients built
// on Anthropic's SDK: the messages become chat messages, the output is read
// by the same parsers, and a message (or its stream of events) is written
// by MessageWriter. Errors here come in Anthropic's shape.

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { ChoiceDelta } from '../../engine/types.js';
import { ChoiceOutputReader } from '../chat-output.js';
import { startChat } from '../chat-run.js';
import { renderChat, toChatMessages, type ChatEnding } from '../chat-template.js';
import type { Choices } from '../choices.js';
import { checkModel, type ServerContext } from '../context.js';
import { toHttpError } from '../error-map.js';
import { isRecord } from '../../is-record.js';
import { ERRORS, type ErrorCode } from '../errors.js';
import { anthropicMessages, anthropicOutputFormat, anthropicToolChoice, anthropicTools, rejectUnservedMessageFields, thinkingBudget, thinkingKwargs } from '../messages-input.js';
import { budgetTags } from '../reasoning.js';
import { messageId, MessageWriter, stopReason, type MessageEvent, type MessageUsage } from '../messages-output.js';
import { toSamplingParams } from '../sampling.js';
import { CountTokensBody, MessagesBody } from '../schemas.js';
import { namedSseEvent } from '../sse.js';
import { toolPlan } from '../tools.js';

/** Anthropic's error type for an HTTP status. */
export function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 408 || status === 504) return 'timeout_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

const anthropicError = (status: number, message: string): { type: 'error'; error: { type: string; message: string } } => ({ type: 'error', error: { type: anthropicErrorType(status), message } });

/** The status an error code of the table stands for (a stream's error event has no status line of its own). */
const statusOf = (code: string): number => (code in ERRORS ? ERRORS[code as ErrorCode].status : 500);

/** A last assistant message with text is continued (Anthropic's prefill), else a new assistant turn opens. */
function endingOf(messages: readonly unknown[]): ChatEnding {
  const last = messages[messages.length - 1] as { role?: unknown; content?: unknown } | undefined;
  const c = last?.content;
  const text = typeof c === 'string' ? c : Array.isArray(c) ? c.map((b: unknown) => (isRecord(b) && b.type === 'text' && typeof b.text === 'string' ? b.text : '')).join('') : '';
  const prefill = last?.role === 'assistant' && text.trim() !== '';
  return { addGenerationPrompt: !prefill, continueFinalMessage: prefill };
}

export const messagesRoute: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;
  app.setErrorHandler((err, request, reply) => {
    const http = toHttpError(err, request.id, ctx.config.maxBodySize);
    if (http.status >= 500 && http.code === 'internal_error') request.log.error({ err }, 'request failed');
    else request.log.info({ code: http.code, status: http.status, msg: http.message }, 'request rejected');
    return reply.status(http.status).headers(http.headers).send(anthropicError(http.status, http.message));
  });

  app.post('/v1/messages', { schema: { body: MessagesBody } }, async (request, reply) => {
    const body = request.body;
    checkModel(ctx, body.model);
    rejectUnservedMessageFields(body);
    // thinking.budget_tokens holds where the server reads thoughts; a model without them has none to limit.
    const tags = budgetTags(ctx.reasoningParser, engine.tokenizer);
    const budget = tags === null ? null : thinkingBudget(body.thinking);
    const { params, maxTokens } = toSamplingParams(
      { temperature: body.temperature, top_p: body.top_p, top_k: body.top_k, stop: body.stop_sequences, thinking_token_budget: budget },
      { vocabSize: engine.model.vocabSize, logprobs: null, maxTokensField: body.max_tokens, thinkingTags: tags, budgetParam: 'thinking.budget_tokens', defaults: engine.model.samplingDefaults },
    );
    const choice = anthropicToolChoice(body.tool_choice);
    const plan = toolPlan({ tools: anthropicTools(body.tools), tool_choice: choice.tool_choice, parallel_tool_calls: choice.parallel_tool_calls }, ctx.toolParser);
    const id = messageId();
    const { run, started, how, guided } = await startChat(ctx, reply, {
      id,
      messages: toChatMessages(anthropicMessages(body.system, body.messages)),
      ending: endingOf(body.messages),
      templateKwargs: thinkingKwargs(body.thinking),
      plan,
      toolChoice: body.tool_choice,
      asked: anthropicOutputFormat(body.output_config),
      params,
      maxTokens,
      truncate: null,
      oneCall: choice.parallel_tool_calls === false,
      skipSpecialTokensGiven: false,
      promptParam: 'messages',
    });
    if (!started) return reply;
    request.log.debug({ engineRequestId: id, promptTokens: run.choices.promptTokens }, 'generate');

    const writer = new MessageWriter(id, engine.model.name);
    // Anthropic counts cached prompt tokens apart from input_tokens.
    const usage = (choices: Choices): MessageUsage => {
      const cached = choices.cachedTokens();
      return { input_tokens: choices.promptTokens - cached, output_tokens: choices.completionTokens(), cache_read_input_tokens: cached, cache_creation_input_tokens: 0 };
    };
    // Each delta read as chat reads it; a named or "any" call's answer held until the choice ends.
    const reader = new ChoiceOutputReader(how, guided);
    const feed = (d: Pick<ChoiceDelta, 'text' | 'finishReason'>): MessageEvent[] => writer.push(reader.read(d.text, d.finishReason !== null).read);
    const finish = (choices: Choices): MessageEvent[] => {
      const c = choices.get(0);
      return writer.finish(stopReason(c.finishReason, c.stopReason, writer.calledTools), usage(choices));
    };

    if (body.stream === true) {
      return run.stream(request.id, {
        head: writer.start(usage(run.choices)),
        chunks: ({ output }) => output.deltas.flatMap(feed),
        usage: null,
        tail: finish,
        framing: { event: (e) => namedSseEvent(e as MessageEvent), error: (b) => namedSseEvent(anthropicError(statusOf(b.error.code), b.error.message)), done: null },
      });
    }
    if (!(await run.collect())) return reply;
    const c = run.choices.get(0);
    feed({ text: c.text, finishReason: c.finishReason });
    return writer.message(stopReason(c.finishReason, c.stopReason, writer.calledTools), usage(run.choices));
  });

  // Claude Code asks how long a prompt is before it sends it.
  app.post('/v1/messages/count_tokens', { schema: { body: CountTokensBody } }, async (request) => {
    const body = request.body;
    checkModel(ctx, body.model);
    const choice = anthropicToolChoice(body.tool_choice);
    const plan = toolPlan({ tools: anthropicTools(body.tools), tool_choice: choice.tool_choice, parallel_tool_calls: choice.parallel_tool_calls }, ctx.toolParser);
    const kwargs = { ...(thinkingKwargs(body.thinking) ?? {}), ...(plan !== null ? { tools: plan.tools } : {}) };
    const rendered = await renderChat(engine, ctx.encoder, toChatMessages(anthropicMessages(body.system, body.messages)), endingOf(body.messages), kwargs);
    return { input_tokens: rendered.ids.length };
  });
  done();
};
