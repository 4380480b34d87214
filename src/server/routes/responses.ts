// POST /v1/responses: OpenAI's Responses API over the chat path
// (chat-run.ts), stateless as vLLM serves it by default: the input items
// become chat messages, the output is read by the same parsers, and a
// response (or its stream of events) is written by ResponseWriter.

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { ChoiceDelta } from '../../engine/types.js';
import { ChatChoiceReader } from '../chat-output.js';
import { startChat } from '../chat-run.js';
import { toChatMessages } from '../chat-template.js';
import { checkModel, unixNow, type ServerContext } from '../context.js';
import { badRequest, HttpError } from '../errors.js';
import { chatLogprobs, type ChatTokenLogprob } from '../logprobs.js';
import { thinkingTokenIds } from '../reasoning.js';
import { chatToolChoice, chatTools, includesLogprobs, rejectUnservedResponseFields, responsesMessages, textFormat } from '../responses-input.js';
import { itemId, ResponseWriter, type ResponseEvent, type ResponseUsage } from '../responses-output.js';
import { toSamplingParams } from '../sampling.js';
import { RESPONSES_SAMPLING, ResponsesBody } from '../schemas.js';
import { namedSseEvent } from '../sse.js';
import { guidedToolCalls, toolPlan } from '../tools.js';
import type { Choices } from '../choices.js';

export const responsesRoute: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;
  app.post('/v1/responses', { schema: { body: ResponsesBody } }, async (request, reply) => {
    const body = request.body;
    checkModel(ctx, body.model);
    rejectUnservedResponseFields(body);
    if (body.max_output_tokens != null && body.max_output_tokens < 1) throw badRequest(`max_output_tokens must be at least 1, got ${body.max_output_tokens}.`, 'max_output_tokens');
    // Logprobs when include asks for them (OpenAI's way) or top_logprobs is given.
    const wantLogprobs = includesLogprobs(body.include) || body.top_logprobs != null;
    const topN = body.top_logprobs ?? 0;
    // Only the fields this API takes: chat's others (n, max_tokens, response_format, ...) are not read from its body.
    const fields = Object.fromEntries(RESPONSES_SAMPLING.map((k) => [k, body[k]])) as Pick<ResponsesBody, (typeof RESPONSES_SAMPLING)[number]>;
    const { params, maxTokens } = toSamplingParams(fields, {
      vocabSize: engine.model.vocabSize,
      logprobs: wantLogprobs ? topN : null,
      logprobsParam: 'top_logprobs',
      maxTokensField: body.max_output_tokens ?? null,
    });
    const plan = toolPlan({ tools: chatTools(body.tools), tool_choice: chatToolChoice(body.tool_choice), parallel_tool_calls: body.parallel_tool_calls ?? null }, ctx.toolParser);
    const id = itemId('resp');
    const { run, started, how, guided } = await startChat(ctx, reply, {
      id,
      messages: toChatMessages(responsesMessages(body.input, body.instructions)),
      ending: { addGenerationPrompt: true, continueFinalMessage: false },
      templateKwargs: null,
      plan,
      toolChoice: body.tool_choice,
      asked: textFormat(body.text),
      params,
      maxTokens,
      truncate: null,
      oneCall: body.parallel_tool_calls === false,
      skipSpecialTokensGiven: body.skip_special_tokens != null,
      promptParam: 'input',
    });
    if (!started) return reply;
    request.log.debug({ engineRequestId: id, promptTokens: run.choices.promptTokens }, 'generate');

    const writer = new ResponseWriter(id, unixNow(), {
      background: false,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      metadata: body.metadata ?? {},
      model: engine.model.name,
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      previous_response_id: null,
      reasoning: body.reasoning ?? null,
      service_tier: 'default',
      // Nothing is kept: GET /v1/responses/{id} finds nothing.
      store: false,
      temperature: params.temperature,
      text: { format: (body.text as { format?: unknown } | undefined)?.format ?? { type: 'text' } },
      tool_choice: body.tool_choice ?? 'auto',
      tools: body.tools ?? [],
      top_logprobs: topN,
      top_p: params.topP,
      truncation: 'disabled',
      user: body.user ?? null,
    }, wantLogprobs);
    // Each delta read as chat reads it: thoughts, content, "auto" calls; a
    // named or "required" call's answer held until the choice ends.
    const reader = how !== null ? new ChatChoiceReader(how) : null;
    const held = { text: '', logprobs: [] as ChatTokenLogprob[] };
    const feed = (d: Pick<ChoiceDelta, 'text' | 'logprobs' | 'finishReason'>): ResponseEvent[] => {
      const lps = wantLogprobs ? chatLogprobs(d.logprobs ?? [], topN) : [];
      const final = d.finishReason !== null;
      const read = reader !== null ? reader.read(d.text, final) : { reasoning: '', content: d.text, calls: [] };
      if (guided === null) return writer.push(read, lps);
      held.text += read.content;
      held.logprobs.push(...lps);
      const events = read.reasoning !== '' ? writer.push({ reasoning: read.reasoning, content: '', calls: [] }, []) : [];
      if (!final) return events;
      const calls = guidedToolCalls(guided, held.text);
      return [...events, ...writer.push(calls !== null ? { reasoning: '', content: '', calls } : { reasoning: '', content: held.text, calls: [] }, held.logprobs)];
    };
    const thinkEnd = thinkingTokenIds(engine.tokenizer)?.end ?? null;
    const finish = (choices: Choices): ResponseEvent[] => {
      const c = choices.get(0);
      const thoughts = writer.reasoningText();
      // Tokens up to the </think> that ends the thoughts (all of them if it never came).
      let reasoning = 0;
      if (thoughts !== '') {
        const k = thinkEnd === null ? -2 : c.tokenIds.indexOf(thinkEnd);
        reasoning = k === -2 ? engine.tokenizer.encode(thoughts, false).length : k < 0 ? c.tokenIds.length : k + 1;
      }
      const output = choices.completionTokens();
      const usage: ResponseUsage = {
        input_tokens: choices.promptTokens,
        input_tokens_details: { cached_tokens: choices.cachedTokens() },
        output_tokens: output,
        output_tokens_details: { reasoning_tokens: reasoning },
        total_tokens: choices.promptTokens + output,
      };
      return writer.finish(c.finishReason === 'length', usage);
    };

    if (body.stream === true) {
      return run.stream(request.id, {
        head: writer.start(),
        chunks: ({ output }) => output.deltas.flatMap(feed),
        usage: null,
        tail: finish,
        framing: { event: (e) => namedSseEvent(e as ResponseEvent), error: (b) => namedSseEvent(writer.error(b)), done: null },
      });
    }
    if (!(await run.collect())) return reply;
    const c = run.choices.get(0);
    feed({ text: c.text, logprobs: c.logprobs, finishReason: c.finishReason });
    const events = finish(run.choices);
    return events[events.length - 1].response;
  });
  // Nothing is stored: what would read, delete or cancel a stored response finds none.
  const notStored = (request: { params: { id: string } }): never => {
    throw new HttpError('response_not_found', [request.params.id]);
  };
  app.get<{ Params: { id: string } }>('/v1/responses/:id', notStored);
  app.get<{ Params: { id: string } }>('/v1/responses/:id/input_items', notStored);
  app.delete<{ Params: { id: string } }>('/v1/responses/:id', notStored);
  app.post<{ Params: { id: string } }>('/v1/responses/:id/cancel', notStored);
  done();
};
