// /health/live proves the process answers HTTP. /health (ready) also proves
// the model is loaded and the engine loop is alive: if requests are pending
// and no step finished within the stall threshold, it answers 503, so a
// load balancer stops sending work to a wedged engine even though HTTP is up.

import type { FastifyPluginCallback } from 'fastify';
import type { ServerContext } from '../context.js';
import { HttpError } from '../errors.js';

export const healthRoutes: FastifyPluginCallback<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  app.get('/health/live', () => ({ status: 'live' }));

  app.get('/health', (_request, reply) => {
    if (ctx.state.shuttingDown) throw new HttpError('shutting_down');
    const hb = ctx.engine.heartbeat();
    const sinceStepMs = performance.now() - hb.lastStepAt;
    if (hb.pending && sinceStepMs > ctx.stallThresholdMs) {
      throw new HttpError('not_ready', [`the engine has not completed a step for ${Math.round(sinceStepMs / 1000)} s while requests are pending`]);
    }
    return reply.send({ status: 'ready', model: ctx.engine.model.name });
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.header('content-type', ctx.metrics.registry.contentType).send(text);
  });
  done();
};
