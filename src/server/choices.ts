// Accumulates engine deltas into the choices of a non-streaming response,
// and tracks per-choice state a stream needs (text offsets, first chunk).

import type { ChoiceDelta, FinishReason, RequestOutput, RequestTimings, TokenLogprob } from '../engine/types.js';

export interface ChoiceState {
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[];
  finishReason: FinishReason | null;
  stopReason: string | number | null;
  started: boolean;
}

export class Choices {
  private readonly map = new Map<number, ChoiceState>();
  promptTokens = 0;
  /**
   * Echo with max_tokens 0: the engine generates one token (its prefill
   * samples one anyway) that the response leaves out: add() books only how
   * each choice ended, and no completion tokens are counted.
   */
  promptOnly = false;
  /** Prompt logprobs (echo) of each prompt, from its request's first output. */
  readonly prompts = new Map<number, { tokenIds: readonly number[]; logprobs: readonly (TokenLogprob | null)[] }>();

  /** Prompt tokens the prefix cache served, per prompt. */
  private readonly cached = new Map<number, number>();
  /** The engine's timings as of the last output (llama.cpp's `timings`). */
  timings: RequestTimings | null = null;

  /** Keeps an output's prompt logprobs (only its request's first output has them) and its prefix-cache hit. */
  notePrompt(promptIndex: number, output: RequestOutput): void {
    if (output.promptLogprobs !== undefined) this.prompts.set(promptIndex, { tokenIds: output.promptTokenIds, logprobs: output.promptLogprobs });
    this.cached.set(promptIndex, output.numCachedTokens);
    this.timings = output.timings;
  }

  /** Prompt tokens served from the prefix cache, over all prompts. */
  cachedTokens(): number {
    let n = 0;
    for (const c of this.cached.values()) n += c;
    return n;
  }

  /** `details`: usage() adds prompt_tokens_details (--enable-prompt-tokens-details). */
  constructor(
    readonly n: number,
    private readonly details = false,
  ) {}

  /** Choice index across prompts: prompt i's choice j is i * n + j, as OpenAI numbers them. */
  indexOf(promptIndex: number, delta: ChoiceDelta): number {
    return promptIndex * this.n + delta.index;
  }

  get(index: number): ChoiceState {
    let c = this.map.get(index);
    if (c === undefined) {
      c = { index, text: '', tokenIds: [], logprobs: [], finishReason: null, stopReason: null, started: false };
      this.map.set(index, c);
    }
    return c;
  }

  add(index: number, d: ChoiceDelta): ChoiceState {
    const c = this.get(index);
    if (this.promptOnly) {
      if (d.finishReason !== null) c.finishReason = d.finishReason;
      return c;
    }
    c.text += d.text;
    c.tokenIds.push(...d.tokenIds);
    if (d.logprobs) c.logprobs.push(...d.logprobs);
    if (d.finishReason !== null) {
      c.finishReason = d.finishReason;
      c.stopReason = d.stopReason;
    }
    return c;
  }

  all(): ChoiceState[] {
    return [...this.map.values()].sort((a, b) => a.index - b.index);
  }

  completionTokens(): number {
    let n = 0;
    for (const c of this.map.values()) n += c.tokenIds.length;
    return n;
  }

  usage(): { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details?: { cached_tokens: number } } {
    const completion = this.completionTokens();
    const usage = { prompt_tokens: this.promptTokens, completion_tokens: completion, total_tokens: this.promptTokens + completion };
    return this.details ? { ...usage, prompt_tokens_details: { cached_tokens: this.cachedTokens() } } : usage;
  }
}
