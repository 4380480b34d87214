// Small read-only routes: /v1/models (and /v1/models/{id}), /version,
// /tokenize, /detokenize, and llama.cpp's /apply-template (the chat
// template's output for a chat request, nothing generated).

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { chatEnding, renderChat, toChatMessages } from '../chat-template.js';
import { checkModel, servedNames, unixNow, type ServerContext } from '../context.js';
import { badRequest } from '../errors.js';
import { ChatBody, DetokenizeBody, TokenizeBody } from '../schemas.js';
import { templateTools } from '../tools.js';
import { packageVersion } from '../version.js';

/** What a chat template is given besides the messages: chat_template_kwargs and the tools (as the chat route passes them). */
function templateExtra(body: { chat_template_kwargs?: Record<string, unknown> | null; tools?: unknown; tool_choice?: unknown }): Record<string, unknown> | undefined {
  const tools = templateTools(body);
  const kwargs = body.chat_template_kwargs ?? undefined;
  return tools === null ? kwargs : { ...kwargs, tools };
}

export const infoRoutes: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;
  const created = unixNow();

  // A card per served name, as vLLM lists them.
  const card = (id: string) => ({
    id,
    object: 'model',
    created,
    owned_by: 'hipserve',
    root: ctx.config.model ?? engine.model.name,
    parent: null,
    max_model_len: engine.model.maxModelLen,
  });
  app.get('/v1/models', () => ({ object: 'list', data: servedNames(ctx).map(card) }));
  // OpenAI's models.retrieve: the card of a served name, or model_not_found.
  app.get<{ Params: { model: string } }>('/v1/models/:model', (request) => {
    checkModel(ctx, request.params.model);
    return card(request.params.model);
  });

  app.get('/version', () => ({ version: packageVersion() }));

  app.post('/tokenize', { schema: { body: TokenizeBody } }, async (request) => {
    const body = request.body;
    checkModel(ctx, body.model);
    let tokens: number[];
    if (body.messages !== undefined) {
      tokens = (await renderChat(engine, ctx.encoder, toChatMessages(body.messages), chatEnding(body), templateExtra(body))).ids;
    } else if (body.prompt !== undefined || body.content !== undefined) {
      // llama.cpp's /tokenize takes `content` and `add_special` (default false there).
      const llama = body.prompt === undefined;
      tokens = await ctx.encoder.encode(body.prompt ?? body.content ?? '', body.add_special_tokens ?? body.add_special ?? !llama);
    } else {
      throw badRequest('Either prompt or messages is required.', 'prompt');
    }
    return { count: tokens.length, max_model_len: engine.model.maxModelLen, tokens };
  });

  // llama.cpp's: the prompt a chat request would run, as text.
  app.post('/apply-template', { schema: { body: ChatBody } }, async (request) => {
    const body = request.body;
    checkModel(ctx, body.model);
    const rendered = await renderChat(engine, ctx.encoder, toChatMessages(body.messages), chatEnding(body), templateExtra(body));
    return { prompt: rendered.text };
  });

  app.post('/detokenize', { schema: { body: DetokenizeBody } }, (request) => {
    const body = request.body;
    checkModel(ctx, body.model);
    for (const t of body.tokens) {
      if (t < 0 || t >= engine.model.vocabSize) throw badRequest(`Token id ${t} is out of vocabulary (size ${engine.model.vocabSize}).`, 'tokens');
    }
    const text = engine.tokenizer.decode(body.tokens, false);
    // vLLM's answer is `prompt`, llama.cpp's `content`.
    return { prompt: text, content: text };
  });
  done();
};
