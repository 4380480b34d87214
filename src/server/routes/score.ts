// vLLM's score and rerank APIs: POST /score (also /v1/score) and POST
// /rerank (also /v1/rerank and /v2/rerank: Jina's and Cohere's API as vLLM
// serves it). Without a classifier, as vLLM scores with an embedding model
// (ServingScores._embedding_score), a pair's score is the cosine similarity
// of the two texts' pooled embeddings: each distinct text of a request is
// embedded once, all in one run of runEmbeddings (queue bound, abort when
// the client leaves, timeout). With --hf-overrides' classifier_from_token
// (a Qwen3-Reranker), the pair is scored from the model's logits after the
// two texts concatenated (classifier.ts).

import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { admit, checkModel, newId, unixNow, type ServerContext } from '../context.js';
import { classifierScores } from '../classifier.js';
import { checkEmbeddingPrompt, embeddingInputs, runEmbeddings } from '../embeddings.js';
import { NOT_OAI } from './embeddings.js';
import { badRequest } from '../errors.js';
import { Distinct, sideParam, leftOf, type PairRun, type Scored, type Side } from '../pairs.js';
import { truncatePrompt } from '../prompt.js';
import { RerankBody, ScoreBody } from '../schemas.js';

/** The texts of a field (a text or a list of them), each non-empty; the list at most embeddingInputs' bound. */
function side(value: string | string[], param: string): Side {
  // The schemas let only texts through, so the items are strings.
  return { param, texts: embeddingInputs(value, param) as string[] };
}

/** vLLM's names for a score request's two sides: text_1/text_2 and, in current vLLM, these. */
const SCORE_PAIRS = [['text_1', 'text_2'], ['data_1', 'data_2'], ['queries', 'documents'], ['queries', 'items']] as const;
type ScoreField = (typeof SCORE_PAIRS)[number][number];
const SCORE_FIELDS: readonly ScoreField[] = [...new Set(SCORE_PAIRS.flat())];

/**
 * The two sides of a score request, given as exactly one of vLLM's pairs
 * of names, and paired as vLLM pairs them: one text on the left is scored
 * against every text on the right (1:N), else both have as many (N:N).
 */
export function scoreSides(body: ScoreBody): [Side, Side] {
  const given = SCORE_FIELDS.filter((f) => body[f] !== undefined);
  const pair = SCORE_PAIRS.find(([a, b]) => body[a] !== undefined && body[b] !== undefined);
  if (pair === undefined) {
    const names = 'text_1 and text_2 (or, as current vLLM reads them, data_1 and data_2, queries and documents, or queries and items)';
    if (given.length === 0) throw badRequest(`${names} are required.`, 'text_1');
    if (given.length > 1) throw badRequest(`${given.join(' and ')} are not a pair: give ${names}.`, given[0]);
    const lone = given[0];
    // Every field is in a pair (queries in two: documents, the first, is named).
    const [a, b] = SCORE_PAIRS.find((p) => p[0] === lone || p[1] === lone) ?? SCORE_PAIRS[0];
    const other = a === lone ? b : a;
    throw badRequest(`${other} is required with ${lone}.`, other);
  }
  const extra = given.find((f) => f !== pair[0] && f !== pair[1]);
  if (extra !== undefined) throw badRequest(`Give the texts to score as one pair of fields: ${pair[0]} and ${pair[1]}, or ${extra} and its pair, not both.`, extra);
  const [a, b] = pair;
  // Both are given (pair was found so).
  const left = side(body[a] as string | string[], a);
  const right = side(body[b] as string | string[], b);
  if (left.texts.length > 1 && left.texts.length !== right.texts.length) {
    throw badRequest(`${a} has ${left.texts.length} texts and ${b} has ${right.texts.length}: give one ${a} to score against every ${b} (1:N), or one for each (N:N).`, a);
  }
  return [left, right];
}

/** Cosine similarity: the dot of the L2-normalized vectors; 0 when either is zero, never NaN. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  const norms = Math.sqrt(aa) * Math.sqrt(bb);
  // Clamped: rounding may put identical texts a hair above 1.
  return norms > 0 ? Math.max(-1, Math.min(1, dot / norms)) : 0;
}

/**
 * Embeds each distinct text of both sides once (identical texts share one
 * engine request) and scores every pair by cosine. Null when the client
 * left; the queue bound (429) is checked on the distinct texts before
 * tokenizing.
 */
async function embeddingScores(ctx: ServerContext, reply: FastifyReply, run: PairRun): Promise<Scored | null> {
  const texts = new Distinct<string>();
  const place = (s: Side): number[] => s.texts.map((text, i) => texts.add(text, text, sideParam(s, i)));
  const left = place(run.left);
  const right = place(run.right);
  const { maxModelLen } = ctx.engine.model;
  // A bad truncate_prompt_tokens is a 400 before the queue is asked.
  truncatePrompt([], run.truncate, maxModelLen);
  admit(ctx, texts.items.length, run.right.param);
  const tokenize = (): Promise<number[][]> => Promise.all(texts.items.map(async (text, k) => {
    const ids = truncatePrompt(await ctx.encoder.encode(text, true), run.truncate, maxModelLen);
    checkEmbeddingPrompt(ids, ctx, texts.origin[k]);
    return ids;
  }));
  const embedded = await runEmbeddings(ctx, reply, { id: run.id, numInputs: texts.items.length, tokenize, priority: run.priority, param: run.right.param });
  if (embedded === null) return null;
  const v = embedded.vectors;
  const scores = right.map((r, i) => cosine(v[left[leftOf(run, i)]], v[r]));
  return { scores, promptTokens: embedded.promptTokens };
}

/** Every pair's score: by the classifier when one is configured, else by cosine. Null when the client left. */
async function scorePairs(ctx: ServerContext, reply: FastifyReply, run: PairRun): Promise<Scored | null> {
  if (ctx.classifier !== null) return classifierScores(ctx, reply, run, ctx.classifier);
  // Per-token vectors have no one cosine: as llama.cpp refuses them on its OpenAI routes.
  if (ctx.engine.model.pooling === 'none') throw badRequest(NOT_OAI, run.left.param);
  return embeddingScores(ctx, reply, run);
}

export const scoreRoutes: FastifyPluginCallbackTypebox<{ ctx: ServerContext }> = (app, { ctx }, done) => {
  const { engine } = ctx;

  // vLLM's ScoreResponse: one score a pair, in pair order.
  const score = async (request: { body: ScoreBody; log: FastifyBaseLogger }, reply: FastifyReply): Promise<unknown> => {
    const body = request.body;
    checkModel(ctx, body.model);
    const [left, right] = scoreSides(body);
    const id = newId('score');
    const scored = await scorePairs(ctx, reply, { id, left, right, truncate: body.truncate_prompt_tokens, priority: body.priority ?? 0 });
    // The client left: nothing to send.
    if (scored === null) return reply;
    request.log.debug({ engineRequestId: id, pairs: scored.scores.length, promptTokens: scored.promptTokens }, 'score');
    return {
      id,
      object: 'list',
      created: unixNow(),
      model: engine.model.name,
      data: scored.scores.map((s, index) => ({ index, object: 'score', score: s })),
      usage: { prompt_tokens: scored.promptTokens, total_tokens: scored.promptTokens, completion_tokens: 0 },
    };
  };

  // vLLM's RerankResponse: the documents by relevance (ties in document order), the first top_n.
  const rerank = async (request: { body: RerankBody; log: FastifyBaseLogger }, reply: FastifyReply): Promise<unknown> => {
    const body = request.body;
    checkModel(ctx, body.model);
    const query = side(body.query, 'query');
    const documents = side(body.documents, 'documents');
    const id = newId('rerank');
    const scored = await scorePairs(ctx, reply, { id, left: query, right: documents, truncate: body.truncate_prompt_tokens, priority: body.priority ?? 0 });
    if (scored === null) return reply;
    request.log.debug({ engineRequestId: id, documents: documents.texts.length, promptTokens: scored.promptTokens }, 'rerank');
    // vLLM's: top_n 0 (its default) or less is every document; return_documents is not read (the text is always returned).
    const topN = body.top_n != null && body.top_n > 0 ? body.top_n : documents.texts.length;
    // Array.prototype.sort is stable: equal scores keep the documents' order.
    const results = documents.texts
      .map((text, index) => ({ index, document: { text }, relevance_score: scored.scores[index] }))
      .sort((x, y) => y.relevance_score - x.relevance_score)
      .slice(0, topN);
    return { id, model: engine.model.name, usage: { prompt_tokens: scored.promptTokens, total_tokens: scored.promptTokens }, results };
  };

  for (const path of ['/score', '/v1/score']) app.post(path, { schema: { body: ScoreBody } }, score);
  for (const path of ['/rerank', '/v1/rerank', '/v2/rerank']) app.post(path, { schema: { body: RerankBody } }, rerank);
  done();
};
