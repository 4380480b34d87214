// Graceful shutdown (SIGTERM/SIGINT): stop taking requests, give running
// ones --shutdown-timeout to finish (the engine aborts the rest), then close.

import type { Engine } from '../engine/types.js';
import type { HipserveServer } from './app.js';

export async function shutdown(server: HipserveServer, engine: Engine, timeoutMs: number): Promise<void> {
  const { app, ctx } = server;
  if (ctx.state.shuttingDown) return;
  ctx.state.shuttingDown = true;
  app.log.info({ timeoutMs }, 'shutting down: draining running requests');
  // close() stops accepting connections and resolves once in-flight responses end.
  const closing = app.close();
  await engine.drain(timeoutMs);
  // Every generation has ended; give their responses a moment to flush, then
  // cut whatever connections remain (a client that never reads).
  const grace = setTimeout(() => { app.server.closeAllConnections(); }, 2000);
  try {
    await closing;
  } finally {
    clearTimeout(grace);
  }
  await engine.close();
  app.log.info('shut down');
}
