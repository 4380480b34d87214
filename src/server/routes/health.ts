// /health/live proves the process answers HTTP. /health (ready; also vLLM's /ping) also proves
// the model is loaded and the engine loop is alive: if requests are pending
// and no step finished and the forward in flight did not move (a layer
// done) within the stall threshold, or the loop has failed
// (crashed and been restarted, or had its forward fail) several times in a
// row without completing a step, it answers 503 (while work is pending, or
// for a stall threshold after the last failure), so a load balancer stops
// sending work to a broken engine even though HTTP is up.

import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';
import { HttpError } from '../errors.js';

/** Consecutive engine-loop failures (no step completed in between) from which /health says 503. */
export const LOOP_FAILURES_NOT_READY = 3;

export const healthRoutes: FastifyPluginCallback<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  app.get('/health/live', () => ({ status: 'live' }));

  const ready = (_request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (ctx.state.shuttingDown) throw new HttpError('shutting_down');
    const hb = ctx.engine.heartbeat();
    const failures = hb.consecutiveFailures ?? 0;
    // Failures count while work is pending, or for a stall threshold after
    // the last one: an idle server whose last requests failed is ready again
    // after that, so a load balancer that stopped sending it work tries it
    // again (a failing step then makes it 503 at once) instead of never.
    const recent = hb.pending || performance.now() - (hb.lastFailureAt ?? 0) <= ctx.stallThresholdMs;
    if (failures >= LOOP_FAILURES_NOT_READY && recent) {
      throw new HttpError('not_ready', [`the engine loop failed ${failures} times in a row without completing a step (last: ${hb.lastFailure ?? 'unknown'})`]);
    }
    // A step that takes longer than the threshold but whose forward still
    // moves (a layer done since an earlier read) is slow, not stalled.
    const now = performance.now();
    const sinceStepMs = now - hb.lastStepAt;
    const sinceMoveMs = now - Math.max(hb.lastStepAt, hb.lastProgressAt ?? 0);
    if (hb.pending && sinceMoveMs > ctx.stallThresholdMs) {
      throw new HttpError('not_ready', [
        `the engine has not completed a step for ${Math.round(sinceStepMs / 1000)} s while requests are pending` +
          (sinceMoveMs < sinceStepMs ? ` (its forward last moved ${Math.round(sinceMoveMs / 1000)} s ago)` : ''),
      ]);
    }
    return reply.send({ status: 'ready', model: ctx.engine.model.name });
  };
  app.get('/health', ready);
  // vLLM's /ping (GET and POST: SageMaker's health check) is the same readiness.
  app.get('/ping', ready);
  app.post('/ping', ready);

  app.get('/metrics', async (_request, reply) => {
    const text = await ctx.metrics.scrape();
    return reply.header('content-type', ctx.metrics.registry.contentType).send(text);
  });
  done();
};
