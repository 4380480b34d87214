// End-to-end harness: the real Fastify server (buildServer) over a real
// engine (assembleEngine: native CPU forward, fixture model) on 127.0.0.1:0,
// plus small readers for /metrics and raw HTTP. Every test file starts one
// server per need and closes it in teardown.

import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import OpenAI from 'openai';
import { pino, type Logger } from 'pino';
import { defaultConfig, type ServeConfig } from '../../src/config/options.js';
import { assembleEngine, type EngineParts } from '../../src/engine/index.js';
import type { LlmEngine } from '../../src/engine/llm-engine.js';
import type { TokenizerName } from '../../src/models/npm-tokenizers.js';
import { loadTokenizer, readChatTemplateOption } from '../../src/models/tokenizer.js';
import * as native from '../../src/native.js';
import { buildServer, type App } from '../../src/server/app.js';
import { fixtureModel, type Arch, type FixtureFormat } from '../fixtures/models.js';

export const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface LiveOptions {
  arch?: Arch;
  format?: FixtureFormat;
  /** Another of the npm tokenizers than the arch's own. */
  tokenizer?: TokenizerName;
  /** Exact engine sizes (defaults: 64 blocks of 16, max-model-len 256, 4 seqs). */
  engine?: Partial<Omit<EngineParts, 'loaded' | 'tokenizer' | 'logger'>>;
  config?: Partial<ServeConfig>;
  logger?: Logger;
}

export interface Live {
  url: string;
  /** The fixture's name as the server serves it. */
  model: string;
  engine: LlmEngine;
  app: App;
  client: OpenAI;
  /** An openai client with another API key (auth tests). */
  clientWith(apiKey: string): OpenAI;
  close(): Promise<void>;
}

export async function startLive(o: LiveOptions = {}): Promise<Live> {
  const path = await fixtureModel(o.arch ?? 'qwen3', o.format ?? 'safetensors', o.tokenizer === undefined ? {} : { tokenizer: o.tokenizer });
  const loaded = await native.loadModel(path, { device: 'cpu' });
  if (!loaded.ok) throw loaded.error;
  // --chat-template, as createEngine reads it.
  const template = o.config?.chatTemplate ?? null;
  const tokenizer = await loadTokenizer(path, template === null ? null : readChatTemplateOption(template));
  const name = o.engine?.name ?? 'fixture';
  const maxModelLen = o.engine?.maxModelLen ?? 256;
  const engine = assembleEngine({
    numBlocks: 64,
    blockSize: 16,
    maxModelLen,
    maxNumSeqs: 4,
    maxNumBatchedTokens: 256,
    enablePrefixCaching: true,
    maxNumQueuedRequests: 64,
    seed: 0,
    isDemo: false,
    ...o.engine,
    name,
    loaded: loaded.value,
    tokenizer,
    logger: quiet,
  });
  const config: ServeConfig = { ...defaultConfig(), model: path, servedModelName: [name], maxModelLen, ...o.config };
  const logger = o.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  let app: App;
  try {
    ({ app } = await buildServer({ engine, config, logger }));
  } catch (err) {
    await engine.close();
    throw err;
  }
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const clientWith = (apiKey: string): OpenAI => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 120_000 });
  return {
    url,
    model: name,
    engine,
    app,
    client: clientWith(config.apiKeys[0] ?? 'unused'),
    clientWith,
    close: async () => {
      await app.close();
      await engine.close();
    },
  };
}

// ---- /metrics ---------------------------------------------------------------

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (enough of it for our own /metrics). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m.at(2) ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`, { headers });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseMetrics(await res.text());
}

/** The value of one series (sum over series that match the labels given); NaN when absent. */
export function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.length === 0 ? NaN : hits.reduce((a, s) => a + s.value, 0);
}

/**
 * Polls /metrics until `ok` holds, at most `tries` times (`delayMs` apart).
 * Returns the last scrape whether or not it held: the caller asserts on it,
 * so a failure shows the values seen rather than a timeout.
 */
export async function pollMetrics(url: string, ok: (s: Sample[]) => boolean, tries = 200, delayMs = 50): Promise<Sample[]> {
  let s = await scrape(url);
  for (let i = 1; i < tries && !ok(s); i++) {
    await sleep(delayMs);
    s = await scrape(url);
  }
  return s;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls cond() up to `tries` times; returns whether it ever held. */
export async function poll(cond: () => boolean | Promise<boolean>, tries = 400, delayMs = 25): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return true;
    await sleep(delayMs);
  }
  return false;
}

// ---- raw HTTP -----------------------------------------------------------------

export interface RawPost {
  req: ClientRequest;
  /** Resolves with the response head once it arrives (never for a request destroyed before). */
  response: Promise<IncomingMessage>;
  /** Everything received so far. */
  received(): string;
}

/** A POST whose socket the test can destroy at any moment; errors from that are swallowed. */
export function rawPost(base: string, path: string, body: unknown, onData?: (chunk: string, req: ClientRequest) => void): RawPost {
  let text = '';
  let gotResponse: (res: IncomingMessage) => void = () => undefined;
  const response = new Promise<IncomingMessage>((resolve) => { gotResponse = resolve; });
  const req = request(new URL(path, base), { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
    gotResponse(res);
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
      onData?.(c, req);
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end(JSON.stringify(body));
  return { req, response, received: () => text };
}

/** Plain JSON POST with fetch: status, headers and parsed body. */
export async function postJson(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(new URL(path, base), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Leave it as text (an SSE stream, say).
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** OpenAI's error object, checked field by field. */
export function isOpenAIError(body: unknown): body is { error: { message: string; type: string; param: string | null; code: string } } {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const e = body.error;
  if (typeof e !== 'object' || e === null) return false;
  const r = e as Record<string, unknown>;
  return typeof r.message === 'string' && typeof r.type === 'string' && (r.param === null || typeof r.param === 'string') && typeof r.code === 'string';
}

/**
 * vLLM's ignore_eos, which the openai typings do not know: spread it into a
 * request body (spread properties escape the excess-property check; the
 * client sends unknown fields as they are).
 */
export const noEos = { ignore_eos: true } as const;
