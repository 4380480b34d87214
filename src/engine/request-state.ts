// The engine's book of one request: its n choices (each a scheduler request
// of its own, sharing the prompt's blocks through the prefix cache), their
// detokenizers, sampling state and the queue its iterator reads.
import { AsyncQueue } from './async-queue.js';
import { IncrementalDetokenizer } from './detokenizer.js';
import { logitBiasArrays } from './params.js';
import type { BadWords } from './bad-words.js';
import { ThinkingBudget } from './thinking-budget.js';
import type { EmbedPool } from './embedding.js';
import type { PromptRows, SeqSampling, StepResult } from '../runner/runner.js';
import type {
  ChoiceDelta,
  FinishedRequestInfo,
  FinishReason,
  RequestOutput,
  RequestTimings,
  SamplingParams,
  TokenLogprob,
  TokenGuide,
  TokenizerApi,
} from './types.js';

export class ChoiceState {
  readonly outputTokenIds: number[] = [];
  readonly detok: IncrementalDetokenizer;
  readonly sampling: SeqSampling;
  finishReason: FinishReason | null = null;
  stopReason: string | number | null = null;
  /** Tokens and logprobs not yet sent to the consumer. */
  pendingTokens: number[] = [];
  pendingLogprobs: TokenLogprob[] = [];
  /** Set once the final delta (with finishReason) was queued. */
  reported = false;
  /**
   * The last token is the EOS or stop token id that ended the choice: its
   * text is left out (vLLM: unless include_stop_str_in_output); its id and
   * logprob stay in the output.
   */
  endedOnStopToken = false;

  lastTokenAt: number | null = null;
  readonly interTokenS: number[] = [];
  /** thinking_token_budget: when it forces the closing tags, they are all the step may sample. */
  readonly budget: ThinkingBudget | null;

  constructor(
    readonly schedId: string,
    readonly index: number,
    readonly parent: RequestState,
    seed: bigint,
    tok: TokenizerApi,
    private readonly eosTokenIds: readonly number[],
    /** response_format: what the grammar rejects is banned, one step at a time. */
    readonly guide: TokenGuide | null = null,
    /** The ids allowed_token_ids leaves out (shared by the request's choices); null when it is not given. */
    private readonly disallowed: readonly number[] | null = null,
    /** The model's vocabulary size (a thinking budget's forced step bans all of it but one id). */
    vocabSize = 0,
    /** bad_words: banned with min_tokens' bans (neither a guide nor allowed_token_ids comes with them). */
    readonly badWords: BadWords | null = null,
  ) {
    const p = parent.params;
    this.budget = p.thinkingBudget ? new ThinkingBudget(p.thinkingBudget, parent.promptTokenIds, vocabSize) : null;
    this.detok = new IncrementalDetokenizer(tok, parent.promptTokenIds, p.skipSpecialTokens, p.stop, p.includeStopStrInOutput);
    this.sampling = {
      temperature: p.temperature,
      topP: p.topP,
      topK: p.topK,
      minP: p.minP,
      presencePenalty: p.presencePenalty,
      frequencyPenalty: p.frequencyPenalty,
      repetitionPenalty: p.repetitionPenalty,
      seed,
      numLogprobs: p.logprobs ?? -1,
      promptTokenIds: parent.promptTokenIds,
      outputTokenIds: this.outputTokenIds,
      banned: [],
      // What ends the choice once sampled, for multi-step calls to stop on
      // natively (the engine's applyTokens checks the same).
      stopIds: [...p.stopTokenIds, ...(p.ignoreEos ? [] : eosTokenIds)],
      ...(p.logitBias === null || Object.keys(p.logitBias).length === 0 ? {} : { bias: logitBiasArrays(p.logitBias) }),
      // The first choice computes the prompt logprobs for all of them.
      ...(index === 0 && p.promptLogprobs !== null ? { promptTopN: p.promptLogprobs } : {}),
    };
    this.updateBanned();
  }

  /**
   * The most steps a call may run for this choice before its bans change
   * (at least 1; Infinity: none): a thinking budget's forced token starts
   * a call; bad words longer than one token hold for one step; with
   * one-token words, min_tokens' bans end at a call's end.
   */
  stepCap(): number {
    let cap = Math.max(1, this.budget?.freeSteps() ?? Infinity);
    const bad = this.badWords;
    if (bad !== null) {
      const left = this.parent.params.minTokens - this.outputTokenIds.length;
      cap = Math.min(cap, bad.conditional ? 1 : left > 0 ? left : Infinity);
    }
    return cap;
  }

  /**
   * Books a sampled token (output, pending delta, timings). Returns the
   * prompt tokens it accounts for: vLLM counts a request's whole prompt
   * (cached part included) once, when its first token arrives.
   */
  append(tok: number, now: number, logprob: TokenLogprob | null): number {
    const st = this.parent;
    this.outputTokenIds.push(tok);
    this.budget?.book(this.outputTokenIds);
    this.pendingTokens.push(tok);
    if (logprob !== null) this.pendingLogprobs.push(logprob);
    st.numGenerated++;
    let promptTokens = 0;
    if (st.timings.firstToken === null) {
      st.timings.firstToken = now;
      promptTokens = st.promptTokenIds.length;
    }
    if (this.lastTokenAt !== null) this.interTokenS.push((now - this.lastTokenAt) / 1000);
    this.lastTokenAt = now;
    return promptTokens;
  }

  /**
   * min_tokens: EOS and stop_token_ids may not be drawn until enough output
   * exists (for the next banSteps tokens of a multi-step call).
   * allowed_token_ids: every other id, at every step (neither a guide nor
   * min_tokens comes with it).
   * A spent thinking_token_budget overrides them all for the step that
   * closes the block (the engine runs one step then), unless a grammar
   * rejects the closing tag: the grammar wins and forcing stops.
   */
  updateBanned(): void {
    const p = this.parent.params;
    const forced = this.budget?.forced() ?? null;
    if (forced !== null && (this.guide === null || !this.guide.rejected().includes(forced))) {
      this.sampling.banned = this.budget?.forcedBans() ?? [];
      this.sampling.banSteps = 1;
    } else if (this.disallowed !== null) {
      if (this.sampling.banned !== this.disallowed) {
        this.sampling.banned = this.disallowed;
        delete this.sampling.banSteps;
      }
    } else if (this.guide !== null) {
      // Valid for the next token only: guided requests run single steps
      // (min_tokens and ignore_eos are refused with a guide: they could ban
      // the only tokens the grammar allows).
      this.sampling.banned = this.guide.rejected();
      this.sampling.banSteps = 1;
    } else if (this.outputTokenIds.length < p.minTokens) {
      const stops = [...(p.ignoreEos ? [] : this.eosTokenIds), ...p.stopTokenIds];
      const bad = this.badWords;
      this.sampling.banned = bad === null ? stops : bad.banned(this.outputTokenIds, [...stops].sort((a, b) => a - b));
      this.sampling.banSteps = bad?.conditional === true ? 1 : p.minTokens - this.outputTokenIds.length;
    } else if (this.badWords !== null) {
      // One-token words only: the same bans at every step of a call; longer ones: this step's.
      this.sampling.banned = this.badWords.banned(this.outputTokenIds);
      if (this.badWords.conditional) this.sampling.banSteps = 1;
      else delete this.sampling.banSteps;
    } else if (this.sampling.banned.length > 0) {
      this.sampling.banned = [];
      this.sampling.banSteps = 0;
    }
  }
}

/**
 * Row `i` of a step's result (step k's seq j: k * S + j), or of its prompt
 * rows (token i of the step), as the API's logprob entry.
 */
export function tokenLogprob(
  tokenizer: TokenizerApi,
  res: Pick<StepResult, 'logprob' | 'topN' | 'topIds' | 'topLogprobs'>,
  i: number,
  tok: number,
  topN: number,
): TokenLogprob {
  const top = [];
  const n = Math.min(topN, res.topN);
  for (let j = 0; j < n; j++) {
    const id = res.topIds[i * res.topN + j];
    if (id < 0) break;
    top.push({ tokenId: id, token: tokenizer.tokenToString(id), logprob: res.topLogprobs[i * res.topN + j] });
  }
  return { tokenId: tok, token: tokenizer.tokenToString(tok), logprob: res.logprob[i], top };
}

export class RequestState {
  readonly choices: ChoiceState[] = [];
  readonly queue = new AsyncQueue<RequestOutput>();
  readonly timings: RequestTimings;
  numGenerated = 0;
  /** Prompt tokens the prefix cache served at the first scheduling. */
  numCachedTokens = 0;
  /** With params.promptLogprobs: one entry per prompt token (the first stays null), filled as the prefill runs. */
  readonly promptLogprobs: (TokenLogprob | null)[] | null;
  /** Prompt positions still without their logprob; sent with the first output once 0. */
  private promptLeft: number;
  private promptSent = false;
  /** An embedding request (GenerateInput.embed): its pooling, then its vector once the prompt is computed. */
  embed: EmbedPool | null = null;
  embedding: Float32Array | null = null;

  constructor(
    readonly requestId: string,
    readonly promptTokenIds: number[],
    readonly params: SamplingParams,
    arrival: number,
  ) {
    this.timings = { arrival, firstScheduled: null, firstToken: null, finished: null };
    this.promptLogprobs = params.promptLogprobs === null ? null : new Array<TokenLogprob | null>(promptTokenIds.length).fill(null);
    this.promptLeft = params.promptLogprobs === null ? 0 : promptTokenIds.length - 1;
  }

  /**
   * Books the prompt rows of one step (rows [from, from + count) of `rows`,
   * the tokens at positions startPos ..); returns true once every prompt
   * position has its logprob.
   */
  bookPromptRows(tokenizer: TokenizerApi, rows: PromptRows, from: number, count: number, startPos: number): boolean {
    const lps = this.promptLogprobs;
    if (lps === null) return true;
    const ids = this.promptTokenIds;
    const topN = this.params.promptLogprobs ?? 0;
    for (let k = 0; k < count; k++) {
      const pos = startPos + k + 1; // the prompt token this row scores
      if (pos >= ids.length) break;
      const row = from + k;
      if (lps[pos] === null) this.promptLeft--;
      lps[pos] = { ...tokenLogprob(tokenizer, rows, row, ids[pos], topN), rank: rows.rank[row] };
    }
    return this.promptLeft === 0;
  }

  /** A step of one of its choices was scheduled at `at`, from position `startPos`: the first such step starts where the prefix cache's hit ends. */
  markScheduled(at: number, startPos: number): void {
    if (this.timings.firstScheduled !== null) return;
    this.timings.firstScheduled = at;
    this.numCachedTokens = startPos;
  }

  get finished(): boolean {
    return this.choices.every((c) => c.finishReason !== null);
  }

  /** Stamps the request finished at `now`; what the metrics record of it. */
  finish(now: number): FinishedRequestInfo {
    this.timings.finished = now;
    const t = this.timings;
    return {
      requestId: this.requestId,
      finishReason: this.choices[0].finishReason ?? 'abort',
      promptTokens: this.promptTokenIds.length,
      generationTokens: this.numGenerated,
      queueTimeS: ((t.firstScheduled ?? now) - t.arrival) / 1000,
      ttftS: t.firstToken === null ? null : (t.firstToken - t.arrival) / 1000,
      e2eS: (now - t.arrival) / 1000,
      interTokenS: this.choices.flatMap((c) => c.interTokenS),
    };
  }

  /**
   * Queues one output with every choice that has something new. With prompt
   * logprobs, nothing goes out before they are complete (a sibling choice
   * may sample in the step that completes them, never before), unless the
   * request is over.
   */
  emit(): void {
    if (this.promptLeft > 0 && !this.finished) return;
    const deltas: ChoiceDelta[] = [];
    for (const c of this.choices) {
      if (c.reported) continue;
      const final = c.finishReason !== null;
      if (final) c.detok.flush();
      const text = c.detok.take(final);
      if (text === '' && c.pendingTokens.length === 0 && !final) continue;
      deltas.push({
        index: c.index,
        text,
        tokenIds: c.pendingTokens,
        logprobs: this.params.logprobs === null ? null : c.pendingLogprobs,
        finishReason: c.finishReason,
        stopReason: c.stopReason,
      });
      c.pendingTokens = [];
      c.pendingLogprobs = [];
      if (final) c.reported = true;
    }
    if (deltas.length === 0) return;
    const finished = this.finished;
    const out: RequestOutput = {
      requestId: this.requestId,
      promptTokenIds: this.promptTokenIds,
      deltas,
      finished,
      numGeneratedTokens: this.numGenerated,
      numCachedTokens: this.numCachedTokens,
      timings: { ...this.timings },
    };
    if (this.embedding !== null) out.embedding = this.embedding;
    if (this.promptLogprobs !== null && !this.promptSent) {
      out.promptLogprobs = this.promptLogprobs;
      this.promptSent = true;
    }
    this.queue.push(out);
    if (finished) this.queue.close();
  }
}
