// POST /v1/responses: OpenAI's Responses API over the chat path
// (chat-run.ts), stateless as vLLM serves it by default: the input items
// become chat messages, the output is read by the same parsers, and a
// response (or its stream of events) is written by ResponseWriter.

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { ChoiceDelta } from '../../engine/types.js';
import { ChoiceOutputReader } from '../chat-output.js';
import { startChat } from '../chat-run.js';
import { toChatMessages } from '../chat-template.js';
import { checkModel, unixNow, type ServerContext } from '../context.js';
import { badRequest, HttpError } from '../errors.js';
import { chatLogprobs, type ChatTokenLogprob } from '../logprobs.js';
import { budgetTags, thinkingTokenIds } from '../reasoning.js';
import { chatToolChoice, chatTools, includesLogprobs, inputItems, rejectUnservedResponseFields, responsesMessages, textFormat } from '../responses-input.js';
import { listInputItems, withIds, type ItemQuery } from '../responses-items.js';
import type { ResponseStore, StoredResponse } from '../responses-store.js';
import { toHttpError } from '../error-map.js';
import { itemId, ResponseWriter, type ResponseEvent, type ResponseUsage } from '../responses-output.js';
import { toSamplingParams } from '../sampling.js';
import { RESPONSES_SAMPLING, ResponsesBody } from '../schemas.js';
import { namedSseEvent } from '../sse.js';
import { toolPlan } from '../tools.js';
import type { Choices } from '../choices.js';

/** Why a response id finds nothing. */
function notKept(store: ResponseStore): string {
  return store.enabled
    ? `it was not stored (store: false), or was deleted, or is older than the newest ${store.capacity} (--responses-store-size)`
    : 'this server keeps no responses (--responses-store-size is 0); send the whole conversation as input';
}

/**
 * Runs a background response to its end (`run` stores what it became);
 * if it throws, the queued entry is stored failed with the error. Never rejects.
 */
function runInBackground(store: ResponseStore, id: string, entry: StoredResponse, run: () => Promise<void>): Promise<void> {
  return run().catch((err: unknown) => {
    const http = toHttpError(err, id);
    store.put(id, { ...entry, response: { ...entry.response, status: 'failed', error: { code: http.code, message: http.message } } });
  });
}

/** Cancels a running background response and waits for its end (then stored); nothing for any other. */
async function stopRunning(stored: StoredResponse | undefined): Promise<void> {
  if (stored?.running === undefined) return;
  stored.running.cancel();
  await stored.running.done;
}

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
      thinkingTags: budgetTags(ctx.reasoningParser, engine.tokenizer),
      defaults: engine.model.samplingDefaults,
    });
    // The conversation so far: a stored previous response's (instructions are not carried over, as OpenAI's).
    const store = ctx.responses;
    const previousId = body.previous_response_id ?? null;
    const previous = previousId === null ? null : store.get(previousId);
    if (previous === undefined) throw badRequest(`Previous response with id '${previousId}' not found: ${notKept(store)}.`, 'previous_response_id');
    if (previous?.running !== undefined) throw badRequest(`Previous response with id '${previousId}' is still running (background); continue from it once it has ended.`, 'previous_response_id');
    const before = previous?.items ?? [];
    const input = inputItems(body.input);
    const keep = store.enabled && body.store !== false;
    // background: answered at once (queued), run detached, read back by GET; it needs the store.
    const background = body.background === true;
    if (background) {
      if (body.stream === true) throw badRequest('background cannot be combined with stream by this server; poll GET /v1/responses/{id} instead.', 'background');
      if (!store.enabled) throw badRequest('background needs the response store, and this server keeps no responses (--responses-store-size is 0): start it with --responses-store-size N, or run the request in the foreground.', 'background');
      if (body.store === false) throw badRequest('background needs store: a background response is read back with GET.', 'background');
    }
    const plan = toolPlan({ tools: chatTools(body.tools), tool_choice: chatToolChoice(body.tool_choice), parallel_tool_calls: body.parallel_tool_calls ?? null }, ctx.toolParser);
    const id = itemId('resp');
    const { run, started, how, guided } = await startChat(ctx, reply, {
      id,
      messages: toChatMessages(responsesMessages(input, body.instructions, before)),
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
      background,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      metadata: body.metadata ?? {},
      model: engine.model.name,
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      previous_response_id: previousId,
      reasoning: body.reasoning ?? null,
      service_tier: 'default',
      store: keep,
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
    const reader = new ChoiceOutputReader<ChatTokenLogprob>(how, guided);
    const feed = (d: Pick<ChoiceDelta, 'text' | 'logprobs' | 'finishReason'>): ResponseEvent[] => {
      const { read, logprobs } = reader.read(d.text, d.finishReason !== null, wantLogprobs ? chatLogprobs(d.logprobs ?? [], topN) : []);
      return writer.push(read, logprobs);
    };
    const thinkEnd = thinkingTokenIds(engine.tokenizer)?.end ?? null;
    // The client's input items with ids, as stored (input_items pages by them).
    const given = keep ? withIds(input) : input;
    /** The closing events; stores the response (with the store on) as `status` says, else as the run ended. */
    const finish = (choices: Choices, status?: 'cancelled'): ResponseEvent[] => {
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
      const events = writer.finish(c.finishReason === 'length', usage);
      const last = events[events.length - 1];
      if (status !== undefined) last.response = { ...(last.response as Record<string, unknown>), status };
      const response = last.response as Record<string, unknown>;
      if (keep) store.put(id, { response, items: [...before, ...given, ...writer.output], inputCount: before.length + given.length });
      return events;
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
    if (background) {
      run.detach();
      const queued = { ...(writer.start()[0].response as Record<string, unknown>), status: 'queued' };
      const entry = { response: queued, items: [...before, ...given], inputCount: before.length + given.length };
      const done = runInBackground(store, id, entry, async () => {
        // Fed as it comes, as a stream is: GET shows it in progress with what it has written.
        await run.collect(({ output }) => {
          for (const d of output.deltas) feed(d);
          const cur = store.get(id);
          if (cur?.running !== undefined) cur.response = writer.progress();
        });
        finish(run.choices, run.cancelled ? 'cancelled' : undefined);
      });
      store.put(id, { ...entry, running: { cancel: () => { run.cancel(); }, done } });
      return queued;
    }
    if (!(await run.collect())) return reply;
    const c = run.choices.get(0);
    feed({ text: c.text, logprobs: c.logprobs, finishReason: c.finishReason });
    const events = finish(run.choices);
    return events[events.length - 1].response;
  });
  // A stored response (--responses-store-size), read or deleted.
  app.get<{ Params: { id: string } }>('/v1/responses/:id', (request) => {
    const stored = ctx.responses.get(request.params.id);
    if (stored === undefined) throw new HttpError('response_not_found', [request.params.id, notKept(ctx.responses)]);
    return stored.response;
  });
  // The items it was generated from (OpenAI's list: newest first, paged by item id).
  app.get<{ Params: { id: string }; Querystring: ItemQuery }>('/v1/responses/:id/input_items', (request) => {
    const stored = ctx.responses.get(request.params.id);
    if (stored === undefined) throw new HttpError('response_not_found', [request.params.id, notKept(ctx.responses)]);
    return listInputItems(stored.items.slice(0, stored.inputCount), request.query);
  });
  // A background response's cancel: it ends with what it has written, status cancelled.
  app.post<{ Params: { id: string } }>('/v1/responses/:id/cancel', async (request) => {
    const stored = ctx.responses.get(request.params.id);
    if (stored === undefined) throw new HttpError('response_not_found', [request.params.id, notKept(ctx.responses)]);
    if (stored.response.background !== true) throw badRequest(`Response ${request.params.id} was not created with background; only background responses can be cancelled.`, 'response_id');
    await stopRunning(stored);
    return (ctx.responses.get(request.params.id) ?? stored).response;
  });
  app.delete<{ Params: { id: string } }>('/v1/responses/:id', async (request) => {
    // A running background response is cancelled first, or its end would store it again.
    await stopRunning(ctx.responses.get(request.params.id));
    if (!ctx.responses.delete(request.params.id)) throw new HttpError('response_not_found', [request.params.id, notKept(ctx.responses)]);
    return { id: request.params.id, object: 'response', deleted: true };
  });
  done();
};
