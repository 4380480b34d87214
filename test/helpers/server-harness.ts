// Starts buildServer() on 127.0.0.1:0 over a FakeEngine; tests close it in teardown.

import { pino, type Logger } from 'pino';
import { defaultConfig, type ServeConfig } from '../../src/config/options.js';
import { buildServer, type App } from '../../src/server/app.js';
import type { ServerContext } from '../../src/server/context.js';
import { FakeEngine, type FakeEngineOptions } from './fake-engine.js';

export { waitFor } from './wait.js';

export interface Harness {
  url: string;
  engine: FakeEngine;
  app: App;
  ctx: ServerContext;
  close(): Promise<void>;
}

export async function startServer(
  opts: { config?: Partial<ServeConfig>; engine?: FakeEngineOptions; logger?: Logger; stallThresholdMs?: number; offloadTokenizer?: boolean; offloadChars?: number } = {},
): Promise<Harness> {
  const engine = new FakeEngine(opts.engine);
  const config: ServeConfig = { ...defaultConfig(), ...opts.config };
  const logger = opts.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const { app, ctx } = await buildServer({
    engine,
    config,
    logger,
    ...(opts.stallThresholdMs !== undefined ? { stallThresholdMs: opts.stallThresholdMs } : {}),
    ...(opts.offloadTokenizer === true ? { tokenizerSource: { module: new URL('./fake-tokenizer.ts', import.meta.url).href, arg: 'qwen3' } } : {}),
    ...(opts.offloadChars !== undefined ? { offloadChars: opts.offloadChars } : {}),
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: address,
    engine,
    app,
    ctx,
    close: async () => {
      await app.close();
      await engine.close();
    },
  };
}
