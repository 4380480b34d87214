#!/usr/bin/env node
// The `hipserve` command: `serve` (the HTTP server), `config schema`, the
// model-cache commands (pull, list, rm, gc, verify), --help and --version.
// Usage errors are one line on stderr and exit code 2.

import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ConfigError, configJsonSchema, loadConfig, serveHelp } from './config/index.js';
import { nearest } from './config/suggest.js';
import type { TokenizerSource } from './server/encoder.js';
import { packageVersion } from './server/version.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

const CATALOG = ['pull', 'list', 'rm', 'gc', 'verify'];
const COMMANDS = ['serve', 'config', ...CATALOG, 'help'];

const USAGE = `Usage: hipserve <command> [options]

Commands:
  serve [MODEL] [options]   Run the OpenAI-compatible server (no model: the built-in demo model)
  config schema             Print the JSON Schema of the serve config file
  pull MODEL [--revision R] Download a model into the cache (Hugging Face layout);
                            MODEL: org/name, or org/repo:file.gguf for one GGUF file
  list                      List cached models
  rm MODEL                  Remove a cached model
  gc --max-size SIZE        Shrink the cache (SIZE: 50GB, 500MiB, ...)
  verify MODEL              Check a cached model's files
                            pull, list, gc and verify take --json; \`hipserve pull --help\`

Options:
  -h, --help                This help (\`hipserve serve --help\` lists every serve option)
  -V, --version             Print the version
`;

async function serve(argv: string[], io: CliIo): Promise<number> {
  const { config, help, warnings } = loadConfig({ argv, env: io.env });
  if (help) {
    io.out(serveHelp() + '\n');
    return 0;
  }
  const logger = pino({ level: config.logLevel, timestamp: pino.stdTimeFunctions.isoTime });
  for (const w of warnings) logger.warn(w);
  // Loaded here, not at the top: --help, config and usage errors must not load the native addon.
  const { createEngine } = await import('./engine/index.js');
  const { buildServer } = await import('./server/app.js');
  const { shutdown } = await import('./server/shutdown.js');
  const engine = await createEngine(config, logger);
  const tokenizerSource = await tokenizerSourceFor(config.model, config.revision, (err) => {
    logger.warn({ err }, 'long prompts will be tokenized on the main thread');
  });
  const server = await buildServer({ engine, config, logger, tokenizerSource });
  if (engine.model.isDemo) {
    logger.warn({ model: engine.model.name }, 'serving the built-in demo model (random weights): its text is noise. Pass --model to serve a real model.');
  }
  const address = await server.app.listen({ host: config.host, port: config.port });
  logger.info({ address, model: engine.model.name, maxModelLen: engine.model.maxModelLen, auth: config.apiKeys.length > 0, cors: config.allowedOrigins.length > 0 }, 'listening');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without draining');
        resolve(1);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'signal received');
      shutdown(server, engine, config.shutdownTimeoutS * 1000).then(
        () => { resolve(0); },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * Where the tokenize worker loads its own tokenizer: the same model path the
 * engine loaded (the demo model's directory, a local path, or the cached
 * snapshot of a hub id, which the engine has pulled by now).
 */
async function tokenizerSourceFor(model: string | null, revision: string | null, onError: (err: unknown) => void): Promise<TokenizerSource | null> {
  try {
    let path: string;
    if (model === null) path = await (await import('./models/demo.js')).ensureDemoModel();
    else if (existsSync(model)) path = model;
    else path = await (await import('./catalog/resolve.js')).resolveModel(model, { offline: true, ...(revision !== null ? { revision } : {}) });
    return { module: new URL('./models/tokenizer.js', import.meta.url).href, arg: path };
  } catch (err) {
    onError(err);
    return null;
  }
}

function configCommand(argv: string[], io: CliIo): number {
  if (argv[0] === 'schema') {
    io.out(JSON.stringify(configJsonSchema(), null, 2) + '\n');
    return 0;
  }
  throw new ConfigError(`unknown config command ${argv[0] ?? '(none)'}; try \`hipserve config schema\``);
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const cmd = argv.at(0);
  const rest = argv.slice(1);
  try {
    if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
      io.out(USAGE);
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === '-V' || cmd === '--version') {
      io.out(`hipserve ${packageVersion()}\n`);
      return 0;
    }
    if (cmd === 'serve') return await serve(rest, io);
    if (cmd === 'config') return configCommand(rest, io);
    if (CATALOG.includes(cmd)) {
      const { catalogMain } = await import('./catalog/cli.js');
      return await catalogMain(argv);
    }
    const guess = nearest(cmd, COMMANDS);
    throw new ConfigError(`unknown command ${cmd}${guess === null ? '' : `; did you mean ${guess}?`}`);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`hipserve: ${err.message}\n`);
      return err.exitCode;
    }
    // Start-up failures (model, device, KV sizing) are expected outcomes: one line, no stack.
    const msg = err instanceof Error ? err.message : String(err);
    io.err(`hipserve: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
    if (io.env.HIPSERVE_DEBUG === '1' && err instanceof Error) io.err(`${err.stack ?? ''}\n`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv.at(1);
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2), { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env }).then(
    (code) => { process.exit(code); },
    (err: unknown) => {
      process.stderr.write(`hipserve: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
