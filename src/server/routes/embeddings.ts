// POST /v1/embeddings (OpenAI's EmbeddingRequest with vLLM's extras:
// truncate_prompt_tokens, add_special_tokens, normalize, priority, and its
// chat form with `messages`), and llama.cpp's POST /embedding (also
// /embeddings): `content` (or `input`), embd_normalize, its answer
// `[{index, embedding: [[...]]}]`. Served for any model: each input is its
// prompt's final hidden states (after the final norm) pooled with the
// model's pooling (--pooling; ModelInfo.pooling), one engine request per
// input, all at once.

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type, type Static } from 'typebox';
import { parsePoolerConfig } from '../../models/pooling.js';
import { chatEnding, renderChat, toChatMessages } from '../chat-template.js';
import type { ModelInfo } from '../../engine/types.js';
import { admit, checkModel, newId, unixNow, type ServerContext } from '../context.js';
import { embeddingInputs, float32Base64, normalizeEmbedding, runEmbeddings, type EmbeddingInput } from '../embeddings.js';
import { badRequest } from '../errors.js';
import { truncatePrompt } from '../prompt.js';
import { EmbeddingBody, Nullable } from '../schemas.js';
import { rejectUnsupported } from '../unsupported.js';

/** llama.cpp's /embedding body: `content` (or `input`) as a text, token ids, or a list of either. */
export const LlamaEmbeddingBody = Type.Object({
  content: Type.Optional(Type.Union([Type.String(), Type.Array(Type.Integer()), Type.Array(Type.Union([Type.String(), Type.Array(Type.Integer())]))])),
  input: Type.Optional(Type.Union([Type.String(), Type.Array(Type.Integer()), Type.Array(Type.Union([Type.String(), Type.Array(Type.Integer())]))])),
  embd_normalize: Nullable(Type.Integer()),
});
type LlamaEmbeddingBody = Static<typeof LlamaEmbeddingBody>;

const ENCODINGS = ['float', 'base64'];

/** llama.cpp's answer to /v1/embeddings under --pooling none (its per-token vectors are on /embedding). */
export const NOT_OAI = 'Pooling type \'none\' is not OAI compatible. Please use a different pooling type (--pooling); llama.cpp\'s /embedding returns every token\'s vector.';

/** vLLM's rules for `dimensions`: fewer only on a matryoshka model, and only the widths it lists when it lists them. */
function checkDimensions(dimensions: number, model: ModelInfo): void {
  if (dimensions < 1) throw badRequest(`dimensions must be at least 1, got ${dimensions}.`, 'dimensions');
  if (dimensions === model.hiddenSize) return;
  const m = model.matryoshka;
  if (m === undefined) {
    throw badRequest(`Model "${model.name}" does not support matryoshka representation, changing output dimensions will lead to poor results (its embeddings have ${model.hiddenSize} dimensions).`, 'dimensions');
  }
  if (dimensions > model.hiddenSize) throw badRequest(`dimensions must be at most ${model.hiddenSize}, the model's width, got ${dimensions}.`, 'dimensions');
  if (m !== true && !m.includes(dimensions)) {
    throw badRequest(`Model "${model.name}" only supports ${JSON.stringify(m)} matryoshka dimensions, use other output dimensions will lead to poor results.`, 'dimensions');
  }
}

export const embeddingsRoutes: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;
  // vLLM's --pooler-config normalize: the default of a request's normalize (true unless given).
  const normalizeByDefault = parsePoolerConfig(ctx.config.poolerConfig).normalize ?? true;
  const encode = (text: string, add: boolean): Promise<number[]> => ctx.encoder.encode(text, add);
  const tokenizeAll = (items: EmbeddingInput[], add: boolean): Promise<number[][]> => Promise.all(items.map((x) => (typeof x === 'string' ? encode(x, add) : Promise.resolve(x))));

  app.post('/v1/embeddings', { schema: { body: EmbeddingBody } }, async (request, reply) => {
    const body = request.body;
    checkModel(ctx, body.model);
    const encoding = body.encoding_format ?? 'float';
    if (!ENCODINGS.includes(encoding)) throw badRequest(`encoding_format must be "float" or "base64", got ${JSON.stringify(encoding)}.`, 'encoding_format');
    const dimensions = body.dimensions ?? null;
    if (dimensions !== null) checkDimensions(dimensions, engine.model);
    if (engine.model.pooling === 'none') throw badRequest(NOT_OAI, 'input');
    const normalize = body.normalize ?? normalizeByDefault;
    const truncate = (ids: number[]): number[] => truncatePrompt(ids, body.truncate_prompt_tokens, engine.model.maxModelLen);
    let numInputs: number;
    let tokenize: () => Promise<number[][]>;
    let param: string;
    if (body.messages !== undefined) {
      // vLLM's chat form: the messages rendered as one prompt, no generation prompt unless asked.
      if (body.input !== undefined) throw badRequest('Give either input or messages, not both.', 'messages');
      rejectUnsupported(body, { chat: true });
      const messages = toChatMessages(body.messages);
      const ending = chatEnding({ add_generation_prompt: body.add_generation_prompt ?? false, continue_final_message: body.continue_final_message });
      const add = body.add_special_tokens ?? false;
      numInputs = 1;
      param = 'messages';
      tokenize = async () => {
        const rendered = await renderChat(engine, ctx.encoder, messages, ending, body.chat_template_kwargs ?? undefined);
        return [truncate(add ? await encode(rendered.text, true) : rendered.ids)];
      };
    } else {
      if (body.input === undefined) throw badRequest('Either input or messages is required.', 'input');
      const items = embeddingInputs(body.input, 'input');
      const add = body.add_special_tokens ?? true;
      numInputs = items.length;
      param = 'input';
      tokenize = async () => (await tokenizeAll(items, add)).map(truncate);
    }
    admit(ctx, numInputs, param);
    const id = newId('embd');
    const embedded = await runEmbeddings(ctx, reply, { id, numInputs, tokenize, priority: body.priority ?? 0, param });
    // The client left: nothing to send.
    if (embedded === null) return reply;
    request.log.debug({ engineRequestId: id, inputs: numInputs, promptTokens: embedded.promptTokens }, 'embed');
    return {
      id,
      object: 'list',
      created: unixNow(),
      model: engine.model.name,
      data: embedded.vectors.map((raw, index) => {
        // As vLLM's pooler: cut to the asked width, then normalize.
        const cut = dimensions !== null && dimensions < raw.length ? raw.subarray(0, dimensions) : raw;
        const v = normalize ? normalizeEmbedding(cut, 2) : cut;
        return { object: 'embedding', index, embedding: encoding === 'base64' ? float32Base64(v) : Array.from(v) };
      }),
      usage: { prompt_tokens: embedded.promptTokens, total_tokens: embedded.promptTokens },
    };
  });

  // llama.cpp's: a list of {index, embedding: [pooled vector]} whatever the input's shape.
  const llama = async (request: { body: LlamaEmbeddingBody }, reply: FastifyReply): Promise<unknown> => {
    const body = request.body;
    const content = body.input ?? body.content;
    if (content === undefined) throw badRequest('"input" or "content" must be provided', 'content');
    const p = body.embd_normalize ?? 2;
    if (p < -1) throw badRequest(`embd_normalize must be -1 (none), 0 (max absolute), 1 (taxicab), 2 (euclidean, the default) or a p-norm above 2; got ${p}.`, 'embd_normalize');
    const param = body.input !== undefined ? 'input' : 'content';
    const items = embeddingInputs(content, param);
    admit(ctx, items.length, param);
    const embedded = await runEmbeddings(ctx, reply, { id: newId('embd'), numInputs: items.length, tokenize: () => tokenizeAll(items, true), priority: 0, param });
    if (embedded === null) return reply;
    const width = engine.model.hiddenSize;
    return embedded.vectors.map((v, index) => {
      // --pooling none: one vector a token, as llama.cpp's server sends them (not normalized).
      if (engine.model.pooling !== 'none') return { index, embedding: [Array.from(normalizeEmbedding(v, p))] };
      return { index, embedding: Array.from({ length: v.length / width }, (_, t) => Array.from(v.subarray(t * width, (t + 1) * width))) };
    });
  };
  app.post('/embedding', { schema: { body: LlamaEmbeddingBody } }, llama);
  app.post('/embeddings', { schema: { body: LlamaEmbeddingBody } }, llama);
  done();
};
