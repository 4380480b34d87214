// The engine's book of one request: its n choices (each a scheduler request
// of its own, sharing the prompt's blocks through the prefix cache), their
// detokenizers, sampling state and the queue its iterator reads.
import { AsyncQueue } from './async-queue.js';
import { IncrementalDetokenizer } from './detokenizer.js';
import type { SeqSampling } from '../runner/runner.js';
import type {
  ChoiceDelta,
  FinishReason,
  RequestOutput,
  RequestTimings,
  SamplingParams,
  TokenLogprob,
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
  lastTokenAt: number | null = null;
  readonly interTokenS: number[] = [];

  constructor(
    readonly schedId: string,
    readonly index: number,
    readonly parent: RequestState,
    seed: bigint,
    tok: TokenizerApi,
  ) {
    const p = parent.params;
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
    };
  }
}

export class RequestState {
  readonly choices: ChoiceState[] = [];
  readonly queue = new AsyncQueue<RequestOutput>();
  readonly timings: RequestTimings;
  numGenerated = 0;

  constructor(
    readonly requestId: string,
    readonly promptTokenIds: number[],
    readonly params: SamplingParams,
    arrival: number,
  ) {
    this.timings = { arrival, firstScheduled: null, firstToken: null, finished: null };
  }

  get finished(): boolean {
    return this.choices.every((c) => c.finishReason !== null);
  }

  /** Queues one output with every choice that has something new. */
  emit(): void {
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
    this.queue.push({
      requestId: this.requestId,
      promptTokenIds: this.promptTokenIds,
      deltas,
      finished,
      numGeneratedTokens: this.numGenerated,
      timings: { ...this.timings },
    });
    if (finished) this.queue.close();
  }
}
