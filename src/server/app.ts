// buildServer(): the Fastify app on top of an Engine. Everything HTTP lives
// under here; the engine is reached only through its contract (types.ts).

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import cors from '@fastify/cors';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ServeConfig } from '../config/options.js';
import type { Engine } from '../engine/types.js';
import { createServerMetrics } from '../metrics/server-metrics.js';
import { installAuth } from './auth.js';
import { loadClassifier } from './classifier.js';
import type { ServerContext } from './context.js';
import { createEncoder, type TokenizerSource } from './encoder.js';
import { toHttpError } from './error-map.js';
import { HttpError } from './errors.js';
import { chatRoute } from './routes/chat.js';
import { completionsRoute } from './routes/completions.js';
import { responsesRoute } from './routes/responses.js';
import { messagesRoute } from './routes/messages.js';
import { llamaCppRoutes } from './routes/llamacpp.js';
import { embeddingsRoutes } from './routes/embeddings.js';
import { scoreRoutes } from './routes/score.js';
import { ResponseStore } from './responses-store.js';
import { healthRoutes } from './routes/health.js';
import { infoRoutes } from './routes/info.js';
import { detectReasoningParser, type ReasoningParserName } from './reasoning.js';
import { detectToolParser, type ToolParserName } from './tool-parsers.js';

export interface BuildServerOptions {
  engine: Engine;
  config: ServeConfig;
  logger: Logger;
  /**
   * Where a worker thread gets its own copy of the tokenizer, so long prompts
   * are encoded off the event loop; null/absent = encode inline.
   */
  tokenizerSource?: TokenizerSource | null;
  /** Texts at least this long (chars) are encoded in the worker. */
  offloadChars?: number;
  /** ms without a step (while busy) after which /health says 503; default 30 s. */
  stallThresholdMs?: number;
}

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface HipserveServer {
  app: App;
  ctx: ServerContext;
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** Honour a sane x-request-id so a caller's id follows the request through our logs. */
function genReqId(req: IncomingMessage): string {
  const h = req.headers['x-request-id'];
  const v = Array.isArray(h) ? h[0] : h;
  return v !== undefined && REQUEST_ID.test(v) ? v : randomUUID();
}

/** The tool-call parser the config names, or the chat template's when it says auto; null when "auto" is off or none fits. */
export function pickToolParser(config: Pick<ServeConfig, 'toolCallParser' | 'enableAutoToolChoice'>, template: string | null): ToolParserName | null {
  if (!config.enableAutoToolChoice || config.toolCallParser === 'none') return null;
  return config.toolCallParser === 'auto' ? detectToolParser(template) : config.toolCallParser;
}

/** The reasoning parser the config names, or the chat template's when it says auto; null when off or none fits. */
export function pickReasoningParser(config: Pick<ServeConfig, 'reasoningParser'>, template: string | null): ReasoningParserName | null {
  if (config.reasoningParser === 'none') return null;
  return config.reasoningParser === 'auto' ? detectReasoningParser(template) : config.reasoningParser;
}

export async function buildServer(opts: BuildServerOptions): Promise<HipserveServer> {
  const { engine, config } = opts;
  // Before anything is set up: a bad --hf-overrides is a start-up error.
  const classifier = loadClassifier(config.hfOverrides, engine.tokenizer, engine.model.vocabSize);
  const loggerInstance: FastifyBaseLogger = opts.logger;
  const app = Fastify({
    loggerInstance,
    genReqId,
    bodyLimit: config.maxBodySize,
    // Our own 503 body (from the error table) replaces Fastify's while closing.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);

  const metrics = createServerMetrics(engine, engine.model.name);
  engine.setEvents({ onRequestFinished: (i) => { metrics.onRequestFinished(i); }, onStep: (i) => { metrics.onStep(i); } });
  const encoder = createEncoder(engine.tokenizer, opts.tokenizerSource ?? null, opts.offloadChars, (err) => {
    app.log.error({ err }, 'tokenize worker failed; encoding prompts on the main thread from now on');
  });
  app.addHook('onClose', () => encoder.close());
  const toolParser = pickToolParser(config, engine.tokenizer.chatTemplateText ?? null);
  app.log.info({ toolCallParser: toolParser }, toolParser === null ? 'tool_choice "auto" is not served (no tool-call parser)' : `tool_choice "auto" reads calls with the ${toolParser} parser`);
  const reasoningParser = pickReasoningParser(config, engine.tokenizer.chatTemplateText ?? null);
  if (reasoningParser !== null) app.log.info({ reasoningParser }, 'chat thoughts (<think>) are returned as reasoning_content');
  if (classifier !== null) {
    const [no, yes] = classifier.tokens;
    app.log.info({ classifierFromToken: classifier.tokens, tokenIds: classifier.ids, method: classifier.method }, `/score and /rerank score a pair by the logits after it (--hf-overrides): sigmoid(logit ${JSON.stringify(yes)} - logit ${JSON.stringify(no)})`);
  }
  const ctx: ServerContext = {
    engine, config, metrics, encoder, state: { shuttingDown: false }, stallThresholdMs: opts.stallThresholdMs ?? 30_000, toolParser, reasoningParser, responses: new ResponseStore(config.responsesStoreSize), classifier,
  };

  // JSON must be UTF-8; Fastify's parser would quietly turn bad bytes into U+FFFD.
  const jsonParser = app.getDefaultJsonParser('error', 'ignore');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(Object.assign(new Error('invalid UTF-8'), { code: 'HIPSERVE_ERR_INVALID_UTF8', statusCode: 400 }), undefined);
      return;
    }
    // The default parser reports through done(); its return value carries nothing.
    void jsonParser(request, text, done);
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    if (ctx.state.shuttingDown && !request.url.startsWith('/health') && request.url !== '/metrics') throw new HttpError('shutting_down');
  });

  if (config.allowedOrigins.length > 0) {
    await app.register(cors, { origin: config.allowedOrigins.includes('*') ? true : config.allowedOrigins, exposedHeaders: ['x-request-id', 'retry-after'] });
  }
  installAuth(app, { keys: config.apiKeys, metricsRequireAuth: config.metricsRequireAuth });

  app.setErrorHandler((err, request, reply) => {
    const http = toHttpError(err, request.id, config.maxBodySize);
    if (http.status >= 500 && http.code === 'internal_error') request.log.error({ err }, 'request failed');
    else request.log.info({ code: http.code, status: http.status, msg: http.message }, 'request rejected');
    return reply.status(http.status).headers(http.headers).send(http.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const http = new HttpError('route_not_found', [request.method, request.url.split('?')[0]]);
    return reply.status(http.status).send(http.body());
  });

  await app.register(healthRoutes, { ctx });
  await app.register(infoRoutes, { ctx });
  await app.register(completionsRoute, { ctx });
  await app.register(chatRoute, { ctx });
  await app.register(responsesRoute, { ctx });
  await app.register(messagesRoute, { ctx });
  await app.register(llamaCppRoutes, { ctx });
  await app.register(embeddingsRoutes, { ctx });
  await app.register(scoreRoutes, { ctx });
  return { app, ctx };
}
