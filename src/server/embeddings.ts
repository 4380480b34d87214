// What /v1/embeddings (OpenAI's and vLLM's) and llama.cpp's /embedding
// share: the inputs as a list, one engine request per input through the
// routes' run (abort, timeout, queue bound), the pooled vectors back in
// input order, and their normalizations and encodings.

import type { FastifyReply } from 'fastify';
import type { ServerContext } from './context.js';
import { badRequest } from './errors.js';
import { endedWithout, RouteRun } from './outcome.js';
import { checkTokenIds } from './prompt.js';

/** Inputs one request may embed (OpenAI's bound). */
export const MAX_EMBEDDING_INPUTS = 2048;

/** Where item i of a field holding `count` items came from, for errors: the field alone, or `field.i` when it holds several. */
export function itemParam(param: string, count: number, i: number): string {
  return count === 1 ? param : `${param}.${i}`;
}

/** One input: a text to tokenize, or token ids as they are. */
export type EmbeddingInput = string | number[];

/**
 * The items of `input` (OpenAI's shapes: a text, texts, token ids, lists
 * of token ids), each one embedding. An empty item or list and more than
 * MAX_EMBEDDING_INPUTS items are 400s naming `param`.
 */
export function embeddingInputs(input: string | readonly (string | number | number[])[], param: string): EmbeddingInput[] {
  let items: EmbeddingInput[];
  if (typeof input === 'string') items = [input];
  else if (input.length === 0) throw badRequest(`${param} cannot be an empty list.`, param);
  // The schemas allow no mix of ids and texts in one list.
  else if (typeof input[0] === 'number') items = [input as number[]];
  else items = input as EmbeddingInput[];
  if (items.length > MAX_EMBEDDING_INPUTS) throw badRequest(`${param} has ${items.length} items; at most ${MAX_EMBEDDING_INPUTS} can be embedded in one request.`, param);
  items.forEach((x, i) => {
    const at = itemParam(param, items.length, i);
    if (x.length === 0) throw badRequest(`${at} is empty: each input must be a non-empty text or list of token ids.`, at);
  });
  return items;
}

/** The prompt of one embedding: in the vocabulary, and no longer than the context (no token is generated after it). */
export function checkEmbeddingPrompt(ids: readonly number[], ctx: ServerContext, param: string): void {
  const { vocabSize, maxModelLen } = ctx.engine.model;
  checkTokenIds(ids, vocabSize, param);
  if (ids.length > maxModelLen) {
    throw badRequest(`This model's maximum context length is ${maxModelLen} tokens. However, you requested ${ids.length} tokens in the input for embedding generation. Please reduce the length of the input.`, param);
  }
}

export interface EmbeddingRun {
  /** The engine request id (several inputs: `${id}-${i}`). */
  id: string;
  /** How many inputs, for the queue bound checked before tokenizing. */
  numInputs: number;
  /** Tokenizes the inputs once the run is armed (a client gone meanwhile is seen). */
  tokenize: () => Promise<number[][]>;
  priority: number;
  /** The field the prompts' errors name. */
  param: string;
}

export interface Embedded {
  /** The pooled hidden states, in input order, not normalized. */
  vectors: Float32Array[];
  promptTokens: number;
}

/**
 * Runs every input as its own engine request (pooled with the model's
 * pooling), at once, as completions runs its prompts. Null when the client
 * left (the reply is dropped); errors before submission are thrown (400s,
 * 429), a timeout is its 408.
 */
export async function runEmbeddings(ctx: ServerContext, reply: FastifyReply, req: EmbeddingRun): Promise<Embedded | null> {
  const run = new RouteRun(ctx, reply, 1);
  run.embed = { pooling: ctx.engine.model.pooling };
  const started = await run.start(async () => {
    const prompts = await req.tokenize();
    prompts.forEach((p, i) => { checkEmbeddingPrompt(p, ctx, itemParam(req.param, prompts.length, i)); });
    return { prompts, maxTokens: 1 };
  }, { n: 1, priority: req.priority }, req.id);
  if (!started) return null;
  const vectors: (Float32Array | undefined)[] = new Array<Float32Array | undefined>(req.numInputs);
  const ok = await run.collect(({ promptIndex, output }) => {
    if (output.embedding !== undefined) vectors[promptIndex] = output.embedding;
  });
  if (!ok) return null;
  const missing = vectors.findIndex((v) => v === undefined);
  if (missing !== -1) endedWithout(ctx, `the engine ended embedding ${missing} of request ${req.id} without a vector`);
  return { vectors: vectors as Float32Array[], promptTokens: run.choices.promptTokens };
}

/**
 * llama.cpp's embd_normalize (common_embd_normalize): -1 none, 0 max
 * absolute scaled to int16's range (32760), 1 taxicab, 2 euclidean, p > 2
 * the p-norm. A zero vector stays zero. vLLM's normalize is p = 2.
 */
export function normalizeEmbedding(v: Float32Array, p: number): Float32Array {
  let sum = 0;
  if (p === -1) {
    sum = 1;
  } else if (p === 0) {
    for (const x of v) sum = Math.max(sum, Math.abs(x));
    sum /= 32760;
  } else if (p === 2) {
    for (const x of v) sum += x * x;
    sum = Math.sqrt(sum);
  } else {
    for (const x of v) sum += Math.abs(x) ** p;
    sum = sum ** (1 / p);
  }
  const scale = sum > 0 ? 1 / sum : 0;
  return v.map((x) => x * scale);
}

/** OpenAI's base64 encoding: the vector's float32 values as little-endian bytes (what its clients decode). */
export function float32Base64(v: Float32Array): string {
  const bytes = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}
