// The engine's public contract: what src/server/ may use. The server never
// reaches below this file (scheduler, runner, native).

import type { GuideSpec, TokenGuide, TokenizerVocab } from '../guided/xgrammar.js';
import type { ThinkingBudgetSpec } from './thinking-budget.js';

export type { GuideSpec, TokenGuide } from '../guided/xgrammar.js';
export type { ThinkingBudgetSpec } from './thinking-budget.js';

export type FinishReason = 'stop' | 'length' | 'abort';

/** The most choices (n) one request may ask for: each is a sequence in the batch. */
export const MAX_N = 16;

/** Sampling parameters of one request, vLLM's names in camelCase. */
export interface SamplingParams {
  n: number;
  maxTokens: number;
  minTokens: number;
  temperature: number;
  topP: number;
  topK: number; // 0 or -1 = off
  minP: number;
  presencePenalty: number;
  frequencyPenalty: number;
  repetitionPenalty: number;
  seed: number | null;
  stop: string[];
  stopTokenIds: number[];
  includeStopStrInOutput: boolean;
  ignoreEos: boolean;
  /** null = no logprobs; 0 = the chosen token's only; N = also the top N. */
  logprobs: number | null;
  skipSpecialTokens: boolean;
  priority: number; // lower runs first, as in vLLM
  /**
   * OpenAI's logit_bias: token id -> value in [-100, 100] added to that
   * token's logit before penalties, temperature and the filters (at most
   * MAX_LOGIT_BIAS entries). Logprobs stay those of the model's own
   * distribution, as every other sampling parameter leaves them. null: none.
   */
  logitBias: Readonly<Record<number, number>> | null;
  /**
   * vLLM's prompt_logprobs (OpenAI's echo with logprobs): the logprob of each
   * prompt token given the ones before it, with the top N. The request then
   * computes its whole prompt (no prefix-cache reuse for its first choice).
   * null: none.
   */
  promptLogprobs: number | null;
  /**
   * vLLM's allowed_token_ids: only these may be sampled (every other id is
   * banned at every step). null or absent: any.
   */
  allowedTokenIds?: readonly number[] | null;
  /**
   * vLLM's thinking_token_budget: at most `tokens` tokens inside the first
   * thinking block, then its closing tags are forced (thinking-budget.ts).
   * The server gives the tags (the reasoning parser's). null or absent: no limit.
   */
  thinkingBudget?: ThinkingBudgetSpec | null;
  /**
   * vLLM's bad_words: words the output may not contain (bad-words.ts: each
   * as token sequences, with and without a leading space). null or absent: none.
   */
  badWords?: readonly string[] | null;
}

/** Entries a logit_bias may hold. */
export const MAX_LOGIT_BIAS = 1024;

export interface TopLogprob {
  tokenId: number;
  token: string;
  logprob: number;
}

export interface TokenLogprob extends TopLogprob {
  top: TopLogprob[];
  /** Prompt logprobs only: the token's vocab rank (1 + the tokens the model found likelier). */
  rank?: number;
}

/** What one choice (index < n) gained since the last output of its request. */
export interface ChoiceDelta {
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[] | null;
  finishReason: FinishReason | null;
  /** The stop string or stop token id that ended the choice, else null. */
  stopReason: string | number | null;
}

export interface RequestTimings {
  arrival: number; // performance.now() ms
  firstScheduled: number | null;
  firstToken: number | null;
  finished: number | null;
}

/** One item of generate()'s iterator. */
export interface RequestOutput {
  requestId: string;
  promptTokenIds: number[];
  deltas: ChoiceDelta[];
  /** true on the last item: every choice has finished. */
  finished: boolean;
  numGeneratedTokens: number;
  /** Prompt tokens the prefix cache served when the request was first scheduled (0 before). */
  numCachedTokens: number;
  timings: RequestTimings;
  /**
   * With promptLogprobs: on the request's first output only, one entry per
   * prompt token, null for the first (nothing precedes it), as vLLM's.
   */
  promptLogprobs?: (TokenLogprob | null)[];
  /**
   * With GenerateInput.embed, on the (final) output: the pooled hidden
   * state, [hiddenSize], not normalized; with pooling 'none' every prompt
   * token's, [promptTokens * hiddenSize].
   */
  embedding?: Float32Array;
}

export interface GenerateInput {
  requestId?: string;
  /** Text is tokenized by the engine (no chat template); ids are used as is. */
  prompt: string | number[];
  params?: Partial<SamplingParams>;
  signal?: AbortSignal;
  /**
   * Grammar-guided decoding: one guide per choice (params.n), from
   * Engine.guided(). The engine owns them from here (disposes them when
   * the choice ends, or at once if generate() throws).
   */
  guides?: TokenGuide[];
  /**
   * An embedding request (/v1/embeddings): the prompt is computed and its
   * final hidden states (after the model's final norm) pooled, instead of
   * generating. One choice only (params.n must be 1; only params.priority is
   * read). The one output is final, with a single empty delta (finishReason
   * 'stop') and `embedding` set.
   */
  embed?: EmbedSpec;
}

/**
 * How an embedding request pools its prompt's hidden states (vLLM's and
 * llama.cpp's pooling types); 'none' (llama.cpp's) pools nothing: every
 * token's state comes back.
 */
export type PoolingType = 'last' | 'mean' | 'cls' | 'none';

export interface EmbedSpec {
  pooling: PoolingType;
}

export interface Heartbeat {
  /** performance.now() of the last completed step, or of the loop's start from idle. */
  lastStepAt: number;
  /** true when requests wait or run, so a stale lastStepAt means a stall. */
  pending: boolean;
  /**
   * Failures of the step loop since the last completed step: loop crashes
   * (restarted with a back-off) and failed forwards. 0 or absent when the
   * last step completed.
   */
  consecutiveFailures?: number;
  /** The last of those failures' message, for /health's reason. */
  lastFailure?: string | null;
  /** performance.now() of that failure. */
  lastFailureAt?: number;
  /**
   * performance.now() of the heartbeat read that first saw the running
   * forward's progress counter move (a layer done inside a long step); 0 or
   * absent when it never moved. Seen only when the heartbeat is read, so a
   * stall shows at most one read interval late.
   */
  lastProgressAt?: number;
}

export interface EngineStats {
  numRunning: number;
  numWaiting: number;
  kvBlocksTotal: number;
  kvBlocksUsed: number;
  kvBlocksCachedFree: number;
  prefixCacheQueries: number; // tokens queried, cumulative
  prefixCacheHits: number; // tokens hit, cumulative
  numPreemptions: number; // cumulative
}

/** Emitted once per request when it ends, for metrics. */
export interface FinishedRequestInfo {
  requestId: string;
  finishReason: FinishReason;
  promptTokens: number;
  generationTokens: number;
  queueTimeS: number;
  ttftS: number | null;
  e2eS: number;
  /** Seconds between consecutive output tokens (one entry per gap). */
  interTokenS: number[];
}

export interface StepInfo {
  numTokens: number; // tokens computed in the step (prefill + decode)
  /** Whole prompts (cached part included) of requests whose first token came this step, as vLLM counts them. */
  numPromptTokens: number;
  /** Tokens generated this step. */
  numGenerationTokens: number;
  jsMs: number;
  nativeMs: number;
}

export interface EngineEvents {
  onRequestFinished?: (info: FinishedRequestInfo) => void;
  onStep?: (info: StepInfo) => void;
}

export interface ModelInfo {
  /** The name the server answers to (served-model-name). */
  name: string;
  maxModelLen: number;
  vocabSize: number;
  architecture: string;
  eosTokenIds: number[];
  /** True for the generated demo model: its text is noise. */
  isDemo: boolean;
  /** Width of the model's hidden state: the length of an embedding. */
  hiddenSize: number;
  /** The model's pooling for embeddings when a request names none (--pooling; 'auto' resolved at load). */
  pooling: PoolingType;
  /**
   * Embeddings may be cut to fewer `dimensions` (a matryoshka model, from
   * its config.json): true for any width, else only these widths. Absent:
   * only the full width.
   */
  matryoshka?: true | readonly number[];
  /** The model's recommended sampling (generation_config.json, --generation-config): a request's unset fields take these. */
  samplingDefaults?: SamplingDefaults;
}

/** Request defaults from the model (SamplingParams' names); an absent one is the server's own. */
export interface SamplingDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  /** max_new_tokens: chat's and responses' max_tokens when a request gives none. */
  maxTokens?: number;
}

export interface ChatMessage {
  role: string;
  content: string | null;
  [k: string]: unknown;
}

export interface TokenizerApi {
  encode(text: string, addSpecialTokens?: boolean): number[];
  decode(ids: readonly number[], skipSpecialTokens?: boolean): string;
  /** Renders the model's chat template; throws a typed error if it has none. */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt: boolean; extra?: Record<string, unknown> }): string;
  tokenToString(id: number): string;
  /** The chat template's source text (null: none); read for its tool-call syntax. */
  readonly chatTemplateText?: string | null;
  /** The vocabulary for grammar-guided decoding (src/guided/); absent: the engine cannot guide. */
  guidedVocab?(): TokenizerVocab;
}

export interface Engine {
  readonly model: ModelInfo;
  readonly tokenizer: TokenizerApi;
  generate(input: GenerateInput): AsyncIterable<RequestOutput>;
  /**
   * Guides that hold a request's output to a format (response_format), `n`
   * of them, for GenerateInput.guides. Absent where the engine cannot guide;
   * a schema that cannot be compiled rejects with a GuideError.
   */
  guided?(spec: GuideSpec, n: number): Promise<TokenGuide[]>;
  abort(requestId: string): void;
  /** Waiting requests could take `numSeqs` more sequences (default 1) without exceeding the queue bound. */
  canAdmit(numSeqs?: number): boolean;
  heartbeat(): Heartbeat;
  stats(): EngineStats;
  setEvents(events: EngineEvents): void;
  /** Stop taking requests; resolve when running ones finish or the timeout aborts them. */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Where the engine logs (pino's shape). */
export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** LlmEngine's settings (assembleEngine builds them from the CLI's). */
export interface LlmEngineOptions {
  /**
   * Launch step N+1 before step N's text work. Off by default: on a 2-core
   * CPU the text work then competes with the forward's threads and the
   * engine bench measured it slower (JS is under 1% of a step there); meant
   * for devices whose forward leaves the host cores free.
   */
  overlapSteps?: boolean;
  /**
   * Decode steps per native call when every running request is decoding and
   * nothing waits (vLLM's --num-scheduler-steps): a number asks for exactly
   * that many (1: one step per call); 'auto' (default) for as many as the
   * runner predicts to fit its synchronous-step budget, at most
   * MAX_AUTO_STEPS (1 where it has no budget: device models, or the
   * budget set to 0).
   */
  numSchedulerSteps?: number | 'auto';
  maxNumQueuedRequests: number;
  /** Seeds requests that bring no seed; random per process when null. */
  seed: number | null;
  /** Frees native resources once the loop has stopped (close()). */
  release?: () => void;
}
