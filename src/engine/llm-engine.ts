// The engine: owns request lifetimes and the one step loop
//   schedule -> execute -> update -> emit
// It is the only caller of the scheduler and the runner.
import { randomBytes, randomUUID } from 'node:crypto';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { Scheduler, SchedulerOutput } from '../scheduler/interface.js';
import { MAX_AUTO_STEPS, type ModelRunner, type SeqSampling, type StepResult } from '../runner/runner.js';
import { EngineError } from './errors.js';
import { GuideBook } from './guides.js';
import { LoopSupervisor } from './loop-supervisor.js';
import { checkPromptIds, idsOutside, resolveSamplingParams } from './params.js';
import { ProgressWatch } from './progress.js';
import { RequestTable } from './request-table.js';
import { mixSeed } from './seeds.js';
import { ChoiceState, RequestState, tokenLogprob } from './request-state.js';
import { BadWords, badWordSequences } from './bad-words.js';
import { EmbedPool, embedRowsFor, poolingSkipsPrefixCache } from './embedding.js';
import { applyEmbeddings, applyPromptRows } from './step-rows.js';
import type {
  Engine,
  EngineEvents,
  EngineLogger,
  EngineStats,
  GenerateInput,
  GuideSpec,
  Heartbeat,
  LlmEngineOptions,
  ModelInfo,
  RequestOutput,
  TokenGuide,
  TokenizerApi,
} from './types.js';

interface Launched {
  out: SchedulerOutput;
  promise: Promise<StepResult>;
}

export class LlmEngine implements Engine {
  private readonly table: RequestTable;
  private events: EngineEvents = {};
  private draining = false;
  private closed = false;
  /** Starts, restarts and watches the step loop (its heartbeat). */
  private readonly supervisor: LoopSupervisor;
  private seedCounter = 0n;
  private readonly progress: ProgressWatch;
  private readonly baseSeed: bigint;
  private readonly eos: ReadonlySet<number>;
  private readonly overlap: boolean;
  /** Grammar guides (response_format): while any is live, every call runs one step. */
  private readonly guides: GuideBook;

  constructor(
    readonly model: ModelInfo,
    readonly tokenizer: TokenizerApi,
    private readonly scheduler: Scheduler,
    private readonly runner: ModelRunner,
    private readonly opts: LlmEngineOptions,
    private readonly log: EngineLogger,
  ) {
    this.baseSeed = opts.seed !== null ? BigInt(opts.seed) : randomBytes(8).readBigUInt64LE();
    this.eos = new Set(model.eosTokenIds);
    this.overlap = opts.overlapSteps ?? false;
    this.guides = new GuideBook(tokenizer, model);
    this.table = new RequestTable(scheduler, this.guides, log, (info) => this.events.onRequestFinished?.(info));
    this.progress = new ProgressWatch(() => this.runner.progress(), () => this.scheduler.hasPending());
    this.supervisor = new LoopSupervisor(
      () => this.loop(),
      () => this.scheduler.hasPending(),
      log,
      (reason) => { this.table.failPending(reason); },
    );
  }

  setEvents(events: EngineEvents): void {
    this.events = events;
  }

  canAdmit(numSeqs = 1): boolean {
    return !this.draining && this.scheduler.numWaiting() + numSeqs <= this.opts.maxNumQueuedRequests;
  }

  /**
   * The loop's heartbeat, plus when the forward in flight last moved (the
   * runner's progress counter: a layer done), so that a step longer than
   * the stall threshold (a big prefill on a slow CPU) is not taken for a
   * wedged one.
   */
  heartbeat(): Heartbeat {
    return { ...this.supervisor.heartbeat(), lastProgressAt: this.progress.sample() };
  }

  stats(): EngineStats {
    const s = this.scheduler.stats();
    return {
      numRunning: s.numRunning,
      numWaiting: s.numWaiting,
      kvBlocksTotal: s.kv.total,
      kvBlocksUsed: s.kv.used,
      kvBlocksCachedFree: s.kv.cachedFree,
      prefixCacheQueries: s.prefixCacheQueries,
      prefixCacheHits: s.prefixCacheHits,
      numPreemptions: s.numPreemptions,
    };
  }

  /**
   * Validates synchronously (throws EngineError for bad input, so the caller
   * can answer 400 before streaming anything), queues the request and
   * returns its outputs as an async iterator. Leaving the iterator early
   * aborts the request.
   */
  generate(input: GenerateInput): AsyncIterable<RequestOutput> {
    try {
      return this.submit(input);
    } catch (err) {
      for (const g of input.guides ?? []) g.dispose();
      throw err;
    }
  }

  async guided(spec: GuideSpec, n: number): Promise<TokenGuide[]> {
    if (this.draining) throw new EngineError('HIPSERVE_ERR_SHUTTING_DOWN', 'the server is shutting down');
    return this.guides.make(spec, n);
  }

  private submit(input: GenerateInput): AsyncIterable<RequestOutput> {
    if (this.draining) throw new EngineError('HIPSERVE_ERR_SHUTTING_DOWN', 'the server is shutting down');
    const promptIds = typeof input.prompt === 'string' ? this.tokenizer.encode(input.prompt, true) : [...input.prompt];
    const embed = input.embed ?? null;
    checkPromptIds(promptIds, this.model.vocabSize, this.model.maxModelLen, embed !== null);
    // An embedding generates nothing: its prompt may fill the context.
    const room = embed !== null ? 1 : this.model.maxModelLen - promptIds.length;
    const params = resolveSamplingParams(embed !== null ? { ...input.params, maxTokens: 1 } : input.params, this.model.vocabSize, room);
    const guides = input.guides ?? null;
    if (embed !== null && (params.n !== 1 || guides !== null)) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', 'an embedding request has one choice and no guide', 'n');
    if (guides !== null) this.guides.check(guides, params);
    const requestId = input.requestId ?? randomUUID();
    if (this.table.has(requestId)) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', `request id ${requestId} is already in use`, 'request_id');
    // The queue bound, in sequences (each choice waits as one), checked here
    // at submission: the server's early check runs before tokenizing, and
    // other requests may have been queued since.
    const waiting = this.scheduler.numWaiting();
    if (waiting + params.n > this.opts.maxNumQueuedRequests) {
      throw new EngineError(
        'HIPSERVE_ERR_QUEUE_FULL',
        `the waiting queue holds ${waiting} of at most ${this.opts.maxNumQueuedRequests} sequences; this request adds ${params.n}`,
      );
    }
    const state = new RequestState(requestId, promptIds, params, performance.now());
    const disallowed = params.allowedTokenIds ? idsOutside(params.allowedTokenIds, this.model.vocabSize) : null;
    const bad = params.badWords && params.badWords.length > 0 ? new BadWords(badWordSequences(params.badWords, this.tokenizer, this.model.vocabSize)) : null;
    const base = params.seed !== null ? BigInt.asUintN(64, BigInt(params.seed)) : mixSeed(this.baseSeed, Number(this.seedCounter++ % 0xffffffffn));
    for (let i = 0; i < params.n; i++) {
      const schedId = params.n === 1 ? requestId : `${requestId}#${i}`;
      const seed = params.n === 1 ? base : mixSeed(base, i);
      state.choices.push(new ChoiceState(schedId, i, state, seed, this.tokenizer, this.model.eosTokenIds, guides?.[i] ?? null, disallowed, this.model.vocabSize, bad));
    }
    if (embed !== null) {
      state.embed = new EmbedPool(embed.pooling);
      state.choices[0].sampling.embedRows = embedRowsFor(embed.pooling);
    }
    this.table.add(state);
    for (const c of state.choices) {
      this.scheduler.addRequest({
        id: c.schedId,
        promptTokenIds: promptIds,
        maxTokens: params.maxTokens,
        priority: params.priority,
        // Prompt logprobs need every prompt position computed by the choice that collects them.
        skipPrefixCache: c.sampling.promptTopN !== undefined || (embed !== null && poolingSkipsPrefixCache(embed.pooling)),
        promptOnly: embed !== null,
      });
    }
    const signal = input.signal;
    if (signal) {
      if (signal.aborted) queueMicrotask(() => { this.abort(requestId); });
      else signal.addEventListener('abort', () => { this.abort(requestId); }, { once: true });
    }
    this.supervisor.kick();
    return this.iterate(state);
  }

  private async *iterate(state: RequestState): AsyncGenerator<RequestOutput> {
    let done = false;
    try {
      for await (const out of state.queue) {
        if (out.finished) done = true;
        yield out;
      }
      done = true;
    } finally {
      if (!done) this.abort(state.requestId);
    }
  }

  abort(requestId: string): void {
    this.table.abort(requestId);
  }

  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const deadline = performance.now() + timeoutMs;
    while (this.scheduler.hasPending() && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const id of this.table.requestIds()) this.abort(id);
  }

  async close(): Promise<void> {
    this.progress.stop();
    await this.drain(0);
    await this.supervisor.stop();
    if (!this.closed) {
      this.closed = true;
      await this.guides.close();
      this.opts.release?.();
    }
  }

  /**
   * The step loop. With overlapSteps, step N+1 is scheduled and launched as
   * soon as step N's tokens are appended and their token-level stops (EOS,
   * stop ids, max_tokens) applied; detokenization, stop strings and emission
   * of step N then run in JavaScript while N+1 runs on the native worker. A
   * request that a stop string ends meanwhile is finished at once (its blocks
   * go back to the pool, which schedule() will not hand out before N+1's
   * update()) and its token from N+1 is dropped.
   */
  private async loop(): Promise<void> {
    let next: Launched | null = null;
    // The launched step whose update() has not returned: if the loop
    // crashes (a bug in text work, a metrics callback), it is waited for and
    // cancelled, or the scheduler would refuse every later schedule() while
    // it stays in flight, and the restarted loop could never step again.
    let flying: Launched | null = null;
    try {
      while (next !== null || this.scheduler.hasPending()) {
        const cur: Launched | null = next ?? this.launch();
        next = null;
        flying = cur;
        if (cur === null) {
          await yieldToIo();
          continue;
        }
        let res: StepResult;
        try {
          res = await cur.promise;
        } catch (err) {
          flying = null; // failStep cancels it
          this.failStep(cur.out, err);
          continue;
        }
        const tResolved = performance.now();
        this.scheduler.update(cur.out, res.sampled);
        flying = null;
        if (res.prompt !== undefined) applyPromptRows(this.table, this.tokenizer, cur.out, res.prompt);
        let numGenerated = 0;
        let numPrompt = applyEmbeddings(this.table, cur.out, res);
        // A step at a time (a multi-step call has several): a stop string met
        // in step k finishes the choice before step k + 1's tokens are looked
        // at. An overlapped launch goes after the last step's token stops.
        for (let k = 0; k < res.steps; k++) {
          const { fresh, newPromptTokens } = this.applyTokens(cur.out, res, k, tResolved);
          if (this.guides.active) await this.guides.refresh(fresh);
          if (k === res.steps - 1 && this.overlap && this.scheduler.hasPending()) {
            next = this.launch();
            flying = next;
          }
          this.applyText(fresh);
          numGenerated += fresh.length;
          numPrompt += newPromptTokens;
        }
        const now = performance.now();
        this.supervisor.stepCompleted(now);
        this.events.onStep?.({
          // A burst computes one token per sampled token (all are decodes).
          numTokens: cur.out.numSteps === 1 ? cur.out.numBatchedTokens : numGenerated,
          numPromptTokens: numPrompt,
          numGenerationTokens: numGenerated,
          jsMs: res.packMs + (now - tResolved),
          nativeMs: res.nativeMs,
        });
        // Let I/O (new requests, aborts, socket writes) run between steps; an
        // overlapped step already yields while its forward runs.
        if (next === null) await yieldToIo();
      }
    } catch (err) {
      if (flying !== null) await this.abandonStep(flying);
      throw err;
    }
  }

  /** Waits for a step the crashed loop launched and takes it out of the scheduler as if it never ran. */
  private async abandonStep(l: Launched): Promise<void> {
    try {
      await l.promise;
    } catch {
      // Its failure is moot: the step is cancelled below either way.
    }
    try {
      this.scheduler.cancelStep(l.out);
    } catch (err) {
      // update() may have taken it before the crash: nothing is left in flight then.
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cancelling the crashed loop\'s step');
    }
  }

  /** Schedules a step and starts its forward; null when nothing could be scheduled. */
  private launch(): Launched | null {
    const tStart = performance.now();
    const want = this.opts.numSchedulerSteps ?? 'auto';
    // Running requests are the step's tokens when it can be a burst (all decodes).
    const steps = this.guides.active ? 1 : want === 'auto' ? this.runner.stepsFor(Math.max(1, this.scheduler.numRunning()), MAX_AUTO_STEPS) : want;
    const numSteps = Math.min(steps, this.table.stepCap()); // bans that change (a thinking budget, bad words) start a call
    const out = this.scheduler.schedule({ numSteps });
    for (const f of out.failed) this.table.failChoice(f.requestId, new EngineError('HIPSERVE_ERR_CANNOT_FIT', f.reason));
    if (out.seqs.length === 0) {
      this.scheduler.update(out, []);
      return null;
    }
    for (const s of out.seqs) this.table.choice(s.requestId)?.parent.markScheduled(tStart, s.startPos);
    let promise: Promise<StepResult>;
    try {
      promise = this.runner.execute(out.seqs, this.samplingOf, out.numSteps);
    } catch (err) {
      // A synchronous failure is this step's, like a rejected forward: the
      // loop cancels the step (failStep). Thrown from here it would leave
      // the scheduler waiting for this step's update() for ever.
      promise = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return { out, promise };
  }

  private readonly samplingOf = (schedId: string): SeqSampling => {
    const c = this.table.choice(schedId);
    if (!c) throw new Error(`engine: no choice for scheduled request ${schedId}`);
    return c.sampling;
  };

  /**
   * Appends each sampled token to its choice and applies the stops that need
   * no text (stop ids, EOS, max_tokens), so the next step can be packed.
   */
  private applyTokens(out: SchedulerOutput, res: StepResult, step: number, now: number): { fresh: [ChoiceState, number][]; newPromptTokens: number } {
    const fresh: [ChoiceState, number][] = [];
    let newPromptTokens = 0;
    const S = out.seqs.length;
    for (let i = 0; i < S; i++) {
      const row = step * S + i;
      const tok = res.sampled[row];
      if (tok < 0) continue;
      const c = this.table.choice(out.seqs[i].requestId);
      if (!c || c.finishReason !== null) continue;
      const p = c.parent.params;
      newPromptTokens += c.append(tok, now, p.logprobs === null ? null : tokenLogprob(this.tokenizer, res, row, tok, p.logprobs));
      fresh.push([c, tok]);
      if (c.guide !== null && !c.guide.accept(tok)) {
        // The step banned every token the grammar rejects: this is a bug, not the model's choice.
        this.log.error({ requestId: c.parent.requestId, token: tok }, 'the grammar rejected a sampled token; ending the choice');
        this.table.finishChoice(c, 'stop', null);
      } else if (p.stopTokenIds.includes(tok) || (!p.ignoreEos && this.eos.has(tok))) {
        c.endedOnStopToken = !p.includeStopStrInOutput;
        // A stop id is the stop reason; EOS is none (vLLM's stop_reason).
        this.table.finishChoice(c, 'stop', p.stopTokenIds.includes(tok) ? tok : null);
      } else if (c.outputTokenIds.length >= p.maxTokens) this.table.finishChoice(c, 'length', null);
      else c.updateBanned();
    }
    return { fresh, newPromptTokens };
  }

  /** Detokenizes the new tokens, applies stop strings and emits the deltas. */
  private applyText(fresh: readonly [ChoiceState, number][]): void {
    const touched = new Set<RequestState>();
    for (const [c, tok] of fresh) {
      if (c.reported) continue; // aborted in between
      touched.add(c.parent);
      // The EOS or stop id that ended the choice has no text (see endedOnStopToken).
      const hit = c.endedOnStopToken ? null : c.detok.push(tok);
      if (hit === null) continue;
      if (c.finishReason === null) this.table.finishChoice(c, 'stop', hit.stop);
      else {
        // The same token also hit max_tokens: the stop string is the reason.
        c.finishReason = 'stop';
        c.stopReason = hit.stop;
      }
    }
    for (const st of touched) this.table.settle(st);
  }

  private failStep(out: SchedulerOutput, err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    this.supervisor.noteFailure(err);
    this.log.error({ err: msg, seqs: out.seqs.length }, 'native forward failed; failing the requests of this step');
    this.scheduler.cancelStep(out);
    for (const s of out.seqs) this.table.failChoice(s.requestId, new EngineError('HIPSERVE_ERR_NATIVE', `the model forward failed: ${msg}`));
  }
}
