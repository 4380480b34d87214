// An honest in-memory Engine for server tests: a real tokenizer, a bounded
// waiting queue, a step loop on a timer, deterministic token choice (greedy
// or seeded), stop strings / stop ids / max_tokens, KV-block accounting,
// abort signals, events, heartbeat and drain; embedding requests (input.embed)
// answer after one step with fakeEmbedding(); allowedTokenIds is honoured,
// the chosen token's logprob then fakeLogprob() (the same whichever ids are
// allowed, as the real engine's come from the model's own distribution).
// The server tests run against it; the same tests can later run against
// the real engine.

import type {
  ChoiceDelta, EmbedSpec, Engine, EngineEvents, EngineStats, FinishReason, GenerateInput, Heartbeat, ModelInfo, PoolingType, RequestOutput, SamplingParams, TokenLogprob,
} from '../../src/engine/types.js';
import { qwen3Tokenizer } from './fake-tokenizer.js';

export interface FakeEngineOptions {
  name?: string;
  maxModelLen?: number;
  maxNumSeqs?: number;
  maxNumQueuedRequests?: number;
  blockSize?: number;
  kvBlocks?: number;
  /** Milliseconds between steps. */
  stepMs?: number;
  isDemo?: boolean;
  /** ModelInfo.pooling: embeddings' pooling (default 'last'). */
  pooling?: PoolingType;
  /** ModelInfo.hiddenSize: an embedding's length (default 32). */
  hiddenSize?: number;
  /** ModelInfo.matryoshka: widths embeddings may be cut to (default null: none). */
  matryoshka?: true | number[] | null;
}

const DEFAULTS: SamplingParams = {
  n: 1, maxTokens: 16, minTokens: 0, temperature: 1, topP: 1, topK: 0, minP: 0, presencePenalty: 0, frequencyPenalty: 0, repetitionPenalty: 1,
  seed: null, stop: [], stopTokenIds: [], includeStopStrInOutput: false, ignoreEos: false, logprobs: null, skipSpecialTokens: true, priority: 0, logitBias: null, promptLogprobs: null,
};

interface Seq {
  index: number;
  ids: number[];
  text: string;
  sent: number; // chars of text already emitted
  finish: FinishReason | null;
  stopReason: string | number | null;
  rng: () => number;
}

interface Req {
  id: string;
  embed: EmbedSpec | null;
  prompt: number[];
  params: SamplingParams;
  seqs: Seq[];
  arrival: number;
  firstScheduled: number | null;
  firstToken: number | null;
  lastToken: number | null;
  gaps: number[];
  blocks: number;
  push: (o: RequestOutput | Error) => void;
  done: boolean;
}

export class QueueFullError extends Error {
  readonly code = 'HIPSERVE_ERR_QUEUE_FULL';
  readonly statusCode = 429;
}

/** mulberry32: small, seedable, good enough to make "random" text reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A token's fake hidden state: deterministic, of no unit norm. */
function tokenState(id: number, size: number): number[] {
  return Array.from({ length: size }, (_, i) => Math.sin(id * 0.37 + i * 0.71) * (1 + (i % 3)));
}

/** The fake engine's embedding of a prompt: its tokens' fake states pooled (not normalized), as the engine contract says. */
export function fakeEmbedding(prompt: readonly number[], pooling: PoolingType, size: number): Float32Array {
  if (pooling === 'none') return Float32Array.from(prompt.flatMap((id) => tokenState(id, size)));
  if (pooling !== 'mean') return Float32Array.from(tokenState(pooling === 'cls' ? prompt[0] : prompt[prompt.length - 1], size));
  const sum = new Array<number>(size).fill(0);
  for (const id of prompt) tokenState(id, size).forEach((x, i) => { sum[i] += x / prompt.length; });
  return Float32Array.from(sum);
}

function hashIds(ids: readonly number[]): number {
  let h = 2166136261;
  for (const x of ids) h = Math.imul(h ^ x, 16777619) >>> 0;
  return h;
}

/** The fake model's logprob of token `id` after `context` (prompt and output so far): deterministic, in (-10, 0). */
export function fakeLogprob(context: readonly number[], id: number): number {
  return -0.01 - (hashIds([...context, id]) % 999) / 100;
}

export class FakeEngine implements Engine {
  readonly model: ModelInfo;
  readonly tokenizer = qwen3Tokenizer();
  /** Ids of requests that ended by abort (what the tests check). */
  readonly aborted: string[] = [];
  readonly started: string[] = [];
  /** The resolved sampling parameters of each request started, in order. */
  readonly startedParams: SamplingParams[] = [];
  /** The embed spec of each request started (null: a generation), in order. */
  readonly startedEmbeds: (EmbedSpec | null)[] = [];
  /** The prompt (token ids) of each request started, in order. */
  readonly startedPrompts: number[][] = [];
  private readonly words: number[];
  private readonly waiting: Req[] = [];
  private readonly running: Req[] = [];
  private events: EngineEvents = {};
  private timer: NodeJS.Timeout | null = null;
  private lastStepAt = performance.now();
  private paused = false;
  private draining = false;
  private usedBlocks = 0;
  private cachedBlocks = 0;
  private preemptions = 0;
  private seq = 0;
  readonly opts: Required<FakeEngineOptions>;

  constructor(opts: FakeEngineOptions = {}) {
    this.opts = { name: 'fake-model', maxModelLen: 512, maxNumSeqs: 8, maxNumQueuedRequests: 16, blockSize: 16, kvBlocks: 4096, stepMs: 2, isDemo: false, pooling: 'last', hiddenSize: 32, matryoshka: null, ...opts };
    const tok = qwen3Tokenizer();
    this.model = { name: this.opts.name, maxModelLen: this.opts.maxModelLen, vocabSize: tok.vocabSize, architecture: 'FakeForCausalLM', eosTokenIds: tok.eosTokenIds, isDemo: this.opts.isDemo, hiddenSize: this.opts.hiddenSize, pooling: this.opts.pooling, ...(this.opts.matryoshka !== null ? { matryoshka: this.opts.matryoshka } : {}) };
    // Whole-word tokens, so generated text reads as words and stop strings can match.
    this.words = [...new Set(this.tokenizer.encode(' the quick brown fox jumps over a lazy dog and then runs far away into green hills where seven small birds sing', false))];
  }

  /** Stop stepping (requests stay queued or half-done) until resume(). */
  pause(): void { this.paused = true; }
  resume(): void { this.paused = false; this.kick(); }

  setEvents(events: EngineEvents): void { this.events = events; }
  canAdmit(): boolean { return !this.draining && this.waiting.length < this.opts.maxNumQueuedRequests; }
  heartbeat(): Heartbeat { return { lastStepAt: this.lastStepAt, pending: this.waiting.length + this.running.length > 0 }; }

  stats(): EngineStats {
    return {
      numRunning: this.running.length, numWaiting: this.waiting.length, kvBlocksTotal: this.opts.kvBlocks, kvBlocksUsed: this.usedBlocks,
      kvBlocksCachedFree: this.cachedBlocks, prefixCacheQueries: 0, prefixCacheHits: 0, numPreemptions: this.preemptions,
    };
  }

  abort(requestId: string): void {
    const r = [...this.waiting, ...this.running].find((x) => x.id === requestId);
    if (r) this.finish(r, 'abort');
  }

  generate(input: GenerateInput): AsyncIterable<RequestOutput> {
    // The bound itself, not canAdmit(): tests override canAdmit to stage races.
    if (this.draining) throw Object.assign(new Error('the server is shutting down'), { code: 'HIPSERVE_ERR_SHUTTING_DOWN' });
    if (this.waiting.length >= this.opts.maxNumQueuedRequests) throw new QueueFullError('queue full');
    const prompt = typeof input.prompt === 'string' ? this.tokenizer.encode(input.prompt, true) : [...input.prompt];
    const params: SamplingParams = { ...DEFAULTS, ...input.params };
    const embed = input.embed ?? null;
    if (embed !== null && params.n !== 1) throw Object.assign(new Error('an embedding request has one choice'), { code: 'HIPSERVE_ERR_INVALID_PARAM', param: 'n' });
    if (embed !== null && prompt.length > this.opts.maxModelLen) {
      throw Object.assign(new Error(`The prompt (${prompt.length} tokens) is longer than the context (${this.opts.maxModelLen}).`), { code: 'HIPSERVE_ERR_PROMPT_TOO_LONG', param: 'prompt' });
    }
    const id = input.requestId ?? `fake-${++this.seq}`;
    const items: (RequestOutput | Error)[] = [];
    let wake: (() => void) | null = null;
    const base = params.seed ?? (params.temperature === 0 ? hashIds(prompt) : Math.floor(Math.random() * 2 ** 32));
    const req: Req = {
      id, embed, prompt, params, arrival: performance.now(), firstScheduled: null, firstToken: null, lastToken: null, gaps: [], blocks: 0, done: false,
      seqs: Array.from({ length: params.n }, (_, index) => ({ index, ids: [], text: '', sent: 0, finish: null, stopReason: null, rng: rng(base + index * 7919) })),
      push: (o) => { items.push(o); wake?.(); },
    };
    this.started.push(id);
    this.startedParams.push(params);
    this.startedEmbeds.push(embed);
    this.startedPrompts.push(prompt);
    const onAbort = (): void => { this.finish(req, 'abort'); };
    if (input.signal?.aborted === true) queueMicrotask(onAbort);
    else input.signal?.addEventListener('abort', onAbort, { once: true });
    this.waiting.push(req);
    this.kick();
    return {
      [Symbol.asyncIterator]: async function* () {
        try {
          for (;;) {
            while (items.length === 0) await new Promise<void>((r) => { wake = r; });
            wake = null;
            const o = items.shift();
            if (o instanceof Error) throw o;
            if (o === undefined) continue;
            yield o;
            if (o.finished) return;
          }
        } finally {
          input.signal?.removeEventListener('abort', onAbort);
        }
      },
    };
  }

  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const deadline = performance.now() + timeoutMs;
    while (this.waiting.length + this.running.length > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    for (const r of [...this.waiting, ...this.running]) this.finish(r, 'abort');
  }

  async close(): Promise<void> {
    await this.drain(0);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private kick(): void {
    if (this.timer === null && !this.paused) this.timer = setTimeout(() => { this.timer = null; this.step(); }, this.opts.stepMs);
  }

  private blocksFor(r: Req): number {
    const longest = Math.max(...r.seqs.map((s) => s.ids.length));
    return Math.ceil((r.prompt.length + longest) / this.opts.blockSize) * r.params.n;
  }

  private step(): void {
    if (this.paused) return;
    const now = performance.now();
    let promptTokens = 0;
    while (this.running.length < this.opts.maxNumSeqs && this.waiting.length > 0) {
      const r = this.waiting.shift() as Req;
      r.firstScheduled = now;
      promptTokens += r.prompt.length;
      this.running.push(r);
    }
    let genTokens = 0;
    for (const r of [...this.running]) {
      if (r.embed !== null) {
        this.embedStep(r, now, r.embed);
        continue;
      }
      const deltas: ChoiceDelta[] = [];
      for (const s of r.seqs) {
        if (s.finish !== null) continue;
        deltas.push(this.advance(r, s));
        genTokens++;
      }
      if (r.firstToken === null) r.firstToken = now;
      else if (r.lastToken !== null) r.gaps.push((now - r.lastToken) / 1000);
      r.lastToken = now;
      this.usedBlocks += this.blocksFor(r) - r.blocks;
      r.blocks = this.blocksFor(r);
      const finished = r.seqs.every((s) => s.finish !== null);
      r.push(this.output(r, deltas, finished));
      if (finished) this.retire(r, r.seqs.some((s) => s.finish === 'length') ? 'length' : 'stop');
    }
    this.lastStepAt = performance.now();
    this.events.onStep?.({ numTokens: promptTokens + genTokens, numPromptTokens: promptTokens, numGenerationTokens: genTokens, jsMs: 0, nativeMs: 0 });
    if (this.waiting.length + this.running.length > 0) this.kick();
  }

  /** An embedding request's one step: its prompt's blocks for the step, then its one final output. */
  private embedStep(r: Req, now: number, embed: EmbedSpec): void {
    r.firstToken = now;
    r.blocks = Math.ceil(r.prompt.length / this.opts.blockSize);
    this.usedBlocks += r.blocks;
    r.seqs[0].finish = 'stop';
    const delta: ChoiceDelta = { index: 0, text: '', tokenIds: [], logprobs: null, finishReason: 'stop', stopReason: null };
    r.push({ ...this.output(r, [delta], true), embedding: fakeEmbedding(r.prompt, embed.pooling, this.opts.hiddenSize) });
    this.retire(r, 'stop');
  }

  /** One token for one sequence: deterministic from the seed, a word from a small pool. */
  private advance(r: Req, s: Seq): ChoiceDelta {
    const p = r.params;
    const allowed = p.allowedTokenIds ?? null;
    const pool = allowed ?? this.words;
    const pick = p.temperature === 0 && p.seed === null ? (hashIds([...r.prompt, ...s.ids]) + s.index) % pool.length : Math.floor(s.rng() * pool.length);
    const id = pool[pick];
    const logprob = allowed === null ? -0.25 : fakeLogprob([...r.prompt, ...s.ids], id);
    s.ids.push(id);
    let logprobs: TokenLogprob[] | null = null;
    if (p.logprobs !== null) {
      const top = Array.from({ length: p.logprobs }, (_, k) => {
        const t = this.words[(pick + k) % this.words.length];
        return { tokenId: t, token: this.tokenizer.tokenToString(t), logprob: -0.25 * (k + 1) };
      });
      logprobs = [{ tokenId: id, token: this.tokenizer.tokenToString(id), logprob, top }];
    }
    const before = s.text.length;
    s.text = this.tokenizer.decode(s.ids, p.skipSpecialTokens);
    if (p.stopTokenIds.includes(id) && s.ids.length > p.minTokens) {
      s.finish = 'stop';
      s.stopReason = id;
    }
    for (const stop of p.stop) {
      if (s.finish !== null || s.ids.length <= p.minTokens) break;
      const at = s.text.indexOf(stop, Math.max(0, before - stop.length + 1));
      if (at !== -1) {
        s.text = s.text.slice(0, p.includeStopStrInOutput ? at + stop.length : at);
        s.finish = 'stop';
        s.stopReason = stop;
      }
    }
    if (s.finish === null && (s.ids.length >= p.maxTokens || r.prompt.length + s.ids.length >= this.opts.maxModelLen)) s.finish = 'length';
    const text = s.text.slice(s.sent);
    s.sent = s.text.length;
    return { index: s.index, text, tokenIds: [id], logprobs, finishReason: s.finish, stopReason: s.stopReason };
  }

  private output(r: Req, deltas: ChoiceDelta[], finished: boolean): RequestOutput {
    return {
      requestId: r.id, promptTokenIds: r.prompt, deltas, finished, numCachedTokens: 0, numGeneratedTokens: r.seqs.reduce((a, s) => a + s.ids.length, 0),
      timings: { arrival: r.arrival, firstScheduled: r.firstScheduled, firstToken: r.firstToken, finished: finished ? performance.now() : null },
    };
  }

  private finish(r: Req, reason: 'abort'): void {
    if (r.done) return;
    const deltas = r.seqs.filter((s) => s.finish === null).map((s) => {
      s.finish = reason;
      return { index: s.index, text: '', tokenIds: [], logprobs: null, finishReason: reason, stopReason: null };
    });
    this.aborted.push(r.id);
    r.push(this.output(r, deltas, true));
    this.retire(r, reason);
  }

  private retire(r: Req, reason: FinishReason): void {
    r.done = true;
    const wi = this.waiting.indexOf(r);
    if (wi !== -1) this.waiting.splice(wi, 1);
    const ri = this.running.indexOf(r);
    if (ri !== -1) this.running.splice(ri, 1);
    this.usedBlocks -= r.blocks;
    r.blocks = 0;
    const now = performance.now();
    this.events.onRequestFinished?.({
      requestId: r.id, finishReason: reason, promptTokens: r.prompt.length, generationTokens: r.seqs.reduce((a, s) => a + s.ids.length, 0),
      queueTimeS: ((r.firstScheduled ?? now) - r.arrival) / 1000, ttftS: r.firstToken === null ? null : (r.firstToken - r.arrival) / 1000,
      e2eS: (now - r.arrival) / 1000, interTokenS: r.gaps,
    });
  }
}
