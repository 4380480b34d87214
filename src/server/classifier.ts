// vLLM's "classifier from token" cross-encoder (--hf-overrides, parsed in
// src/models/hf-overrides.ts) on /score and /rerank: a Qwen3-Reranker
// scores a pair by its logits of "no" and "yes" after the pair's prompt,
// sigmoid(logit(yes) - logit(no)), where vLLM folds lm_head[yes] -
// lm_head[no] into a one-label head (from_2_way_softmax).
//
// The prompt is vLLM's for an "LLM as reranker" (score_utils.get_score_prompt
// without a score template, use_pad_token false): the two texts joined as
// they are, text_1 + text_2, tokenized once with the special tokens; the
// client writes Qwen3-Reranker's instruct prefix and suffix into them.
// truncate_prompt_tokens keeps that prompt's last tokens.
//
// Here a pair runs as one engine request per token of classifier_from_token:
// a one-token generation allowed only that token, at temperature 0, with
// its logprob, which the samplers take from the model's own distribution
// (raw logits, before the ban): logprob(yes) - logprob(no) = logit(yes) -
// logit(no). A pair's two requests share their prompt: where the scheduler
// takes them in different steps, the second finds the first's full blocks
// in the prefix cache (in the same step both compute it).
import type { FastifyReply } from 'fastify';
import type { TokenizerApi } from '../engine/types.js';
import { classifierSpec, parseHfOverrides, type ClassifierSpec } from '../models/hf-overrides.js';
import { admit, type ServerContext } from './context.js';
import { badRequest } from './errors.js';
import { endedWithout, RouteRun } from './outcome.js';
import { Distinct, sideParam, leftOf, type PairRun, type Scored } from './pairs.js';
import { checkTokenIds, truncatePrompt } from './prompt.js';

/** A resolved classifier: vLLM's from_2_way_softmax over two vocabulary entries, [false, true]. */
export interface Classifier {
  method: ClassifierSpec['method'];
  tokens: ClassifierSpec['tokens'];
  ids: readonly [number, number];
}

/**
 * A classifier token's id, looked up as vLLM does (convert_tokens_to_ids):
 * as an entry of the vocabulary ("no", "Ġyes"), not as text to encode. A
 * tokenizer without its vocabulary at hand: a text that encodes to that one token.
 */
function tokenId(piece: string, tokenizer: TokenizerApi, vocabSize: number): number {
  const vocab = tokenizer.guidedVocab?.().tokens ?? null;
  const encoded = tokenizer.encode(piece, false);
  let id = vocab !== null ? vocab.indexOf(piece) : -1;
  if (vocab === null && encoded.length === 1 && tokenizer.tokenToString(encoded[0]) === piece) id = encoded[0];
  if (id === -1) {
    const single = encoded.length === 1 && vocab !== null ? `; the text ${JSON.stringify(piece)} is token ${encoded[0]}, the entry ${JSON.stringify(vocab[encoded[0]])}` : '';
    throw new Error(`--hf-overrides: classifier_from_token ${JSON.stringify(piece)} is not a token of the model's vocabulary (vLLM reads these as vocabulary entries${single})`);
  }
  if (id >= vocabSize) throw new Error(`--hf-overrides: classifier_from_token ${JSON.stringify(piece)} is token ${id}, beyond the model's ${vocabSize} logits`);
  return id;
}

/** The classifier --hf-overrides asks for, its tokens resolved in the server's tokenizer; null: none. A bad one throws (a start-up error naming the flag). */
export function loadClassifier(hfOverrides: string | null, tokenizer: TokenizerApi, vocabSize: number): Classifier | null {
  const spec = classifierSpec(parseHfOverrides(hfOverrides));
  if (spec === null) return null;
  const [no, yes] = spec.tokens;
  return { method: spec.method, tokens: spec.tokens, ids: [tokenId(no, tokenizer, vocabSize), tokenId(yes, tokenizer, vocabSize)] };
}

/** from_2_way_softmax: sigmoid(logit(true) - logit(false)), the softmax of the two, from the tokens' logprobs. */
export function twoWayScore(lpFalse: number, lpTrue: number): number {
  return 1 / (1 + Math.exp(lpFalse - lpTrue));
}

/** A pair's prompt: in the vocabulary, with a position left after it (its logits are read there). */
function checkPairPrompt(ids: readonly number[], ctx: ServerContext, what: string, param: string): void {
  const { vocabSize, maxModelLen } = ctx.engine.model;
  checkTokenIds(ids, vocabSize, param);
  if (ids.length >= maxModelLen) {
    throw badRequest(
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${ids.length} tokens in the input for score (${what}), and the classifier reads the logits after the last one: at most ${maxModelLen - 1} fit. Please reduce the length of the input.`,
      param,
    );
  }
}

/**
 * Scores every pair with the classifier: each distinct prompt (left text +
 * right text) runs once, as one engine request per classifier token, all in
 * one run (the queue bound, 429, counted in those requests before
 * tokenizing; abort when the client leaves; the timeout). Null when the
 * client left. Usage counts each distinct prompt's tokens once.
 */
export async function classifierScores(ctx: ServerContext, reply: FastifyReply, run: PairRun, c: Classifier): Promise<Scored | null> {
  const pairs = new Distinct<{ text: string; what: string }>();
  const slots = run.right.texts.map((right, i) => {
    const l = leftOf(run, i);
    const text = run.left.texts[l] + right;
    return pairs.add(text, { text, what: `${sideParam(run.left, l)} followed by ${sideParam(run.right, i)}` }, sideParam(run.right, i));
  });
  // The prompt may take every position but the one its logits are read at.
  const room = ctx.engine.model.maxModelLen - 1;
  // A bad truncate_prompt_tokens is a 400 before the queue is asked.
  truncatePrompt([], run.truncate, room);
  const perPair = c.ids.length;
  admit(ctx, pairs.items.length * perPair, run.right.param);
  const rr = new RouteRun(ctx, reply, 1);
  let promptTokens = 0;
  const started = await rr.start(async () => {
    const prompts = await Promise.all(pairs.items.map(async ({ text, what }, k) => {
      const ids = truncatePrompt(await ctx.encoder.encode(text, true), run.truncate, room);
      checkPairPrompt(ids, ctx, what, pairs.origin[k]);
      return ids;
    }));
    promptTokens = prompts.reduce((a, p) => a + p.length, 0);
    // Prompt k * perPair + j: pair k, allowed only token j (adjacent, so the second finds the first's blocks).
    return {
      prompts: prompts.flatMap((p) => c.ids.map(() => p)),
      maxTokens: 1,
      promptParams: prompts.flatMap(() => c.ids.map((id) => ({ allowedTokenIds: [id] }))),
    };
  }, { n: 1, priority: run.priority, temperature: 0, logprobs: 0 }, run.id);
  if (!started || !(await rr.collect())) return null;
  const logprob = (i: number): number => {
    const got = rr.choices.get(i).logprobs.at(0);
    if (got === undefined) endedWithout(ctx, `the engine ended request ${i} of ${run.id} without a token`);
    if (got.tokenId !== c.ids[i % perPair]) throw new Error(`request ${i} of ${run.id} sampled token ${got.tokenId}, not the one allowed (${c.ids[i % perPair]})`);
    return got.logprob;
  };
  const byPrompt = pairs.items.map((_, k) => twoWayScore(logprob(k * perPair), logprob(k * perPair + 1)));
  return { scores: slots.map((k) => byPrompt[k]), promptTokens };
}
