// Engine logprobs -> OpenAI's two shapes: the legacy completions object
// (parallel arrays) and chat's per-token content list.

import type { TokenLogprob } from '../engine/types.js';

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

export function emptyCompletionLogprobs(): CompletionLogprobs {
  return { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
}

/** Appends tokens to `into`; `offset` is the text length before them. Returns the new offset. */
export function appendCompletionLogprobs(into: CompletionLogprobs, lps: readonly TokenLogprob[], offset: number, topN: number): number {
  let off = offset;
  for (const lp of lps) {
    into.tokens.push(lp.token);
    into.token_logprobs.push(lp.logprob);
    const top: Record<string, number> = {};
    // OpenAI lists the chosen token among the top ones too.
    if (topN > 0) for (const t of lp.top.slice(0, topN)) top[t.token] = t.logprob;
    top[lp.token] = lp.logprob;
    into.top_logprobs.push(top);
    into.text_offset.push(off);
    off += lp.token.length;
  }
  return off;
}

/**
 * Echo with logprobs: the prompt's tokens first, the first one with null
 * logprob and null top (nothing precedes it), as OpenAI and vLLM send them.
 * Returns the text offset after them.
 */
export function appendPromptLogprobs(
  into: CompletionLogprobs,
  promptTokenIds: readonly number[],
  entries: readonly (TokenLogprob | null)[],
  tokenToString: (id: number) => string,
  topN: number,
): number {
  let off = 0;
  promptTokenIds.forEach((id, i) => {
    const e = entries[i] ?? null;
    if (e === null) {
      const token = tokenToString(id);
      into.tokens.push(token);
      into.token_logprobs.push(null);
      into.top_logprobs.push(null);
      into.text_offset.push(off);
      off += token.length;
    } else {
      off = appendCompletionLogprobs(into, [e], off, topN);
    }
  });
  return off;
}

/** One prompt position in vLLM's prompt_logprobs: token id -> its logprob, vocab rank and text. */
export type VllmPromptLogprob = Record<string, { logprob: number; rank: number | null; decoded_token: string }> | null;

/**
 * vLLM's `prompt_logprobs` (its extension of both APIs): per prompt token,
 * null for the first, else the prompt token and the top N, keyed by id.
 */
export function vllmPromptLogprobs(entries: readonly (TokenLogprob | null)[], topN: number): VllmPromptLogprob[] {
  return entries.map((e) => {
    if (e === null) return null;
    const out: NonNullable<VllmPromptLogprob> = {};
    e.top.slice(0, topN).forEach((t, j) => {
      out[String(t.tokenId)] = { logprob: t.logprob, rank: j + 1, decoded_token: t.token };
    });
    out[String(e.tokenId)] ??= { logprob: e.logprob, rank: e.rank ?? null, decoded_token: e.token };
    return out;
  });
}

export interface ChatTopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

export interface ChatTokenLogprob extends ChatTopLogprob {
  top_logprobs: ChatTopLogprob[];
}

/** A token's text as its UTF-8 bytes (the `bytes` of OpenAI's and llama.cpp's logprobs). */
export const bytesOf = (s: string): number[] => [...Buffer.from(s, 'utf8')];

/** vLLM's return_tokens_as_token_ids: a token written as "token_id:N" (its text may not round-trip). */
export const tokenIdText = (id: number): string => `token_id:${id}`;

/** The logprob with every token (chosen and top) written as tokenIdText. */
export function withTokenId(lp: TokenLogprob): TokenLogprob {
  return { ...lp, token: tokenIdText(lp.tokenId), top: lp.top.map((t) => ({ ...t, token: tokenIdText(t.tokenId) })) };
}

/** How a request's logprobs are sent: as they are, or each withTokenId (return_tokens_as_token_ids). */
export function logprobsAsSent(asIds: boolean): (lps: readonly TokenLogprob[]) => readonly TokenLogprob[] {
  return asIds ? (lps) => lps.map(withTokenId) : (lps) => lps;
}

export function chatLogprobs(lps: readonly TokenLogprob[], topN: number): ChatTokenLogprob[] {
  return lps.map((lp) => ({
    token: lp.token,
    logprob: lp.logprob,
    bytes: bytesOf(lp.token),
    top_logprobs: lp.top.slice(0, topN).map((t) => ({ token: t.token, logprob: t.logprob, bytes: bytesOf(t.token) })),
  }));
}
