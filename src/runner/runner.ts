// The model runner: the only caller of the addon's compute functions. It packs
// one scheduled step into the flat arrays of native/README.md (reused buffers,
// no per-token objects), runs the native forward (on the addon's worker
// thread, or on the JS thread for a short CPU step: forward-policy.ts) and
// hands back the sampled tokens.
import type { Step, StepOutput } from '../native.js';
import { StepBuffers } from './step-buffers.js';

/** What the runner needs of one scheduled sequence (the scheduler's ScheduledSeq). */
export interface RunnableSeq {
  readonly requestId: string;
  readonly tokenIds: readonly number[];
  readonly startPos: number;
  readonly numTokens: number;
  readonly blockIds: readonly number[];
  readonly sample: boolean;
  /** Tokens it may sample in a multi-step call (its reserved slots); 1 when absent. */
  readonly maxSteps?: number;
}

/** Per-sequence sampling state the engine keeps for each running choice. */
export interface SeqSampling {
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  presencePenalty: number;
  frequencyPenalty: number;
  repetitionPenalty: number;
  seed: bigint;
  /** -1 none, 0 chosen only, N top N. */
  numLogprobs: number;
  promptTokenIds: readonly number[];
  outputTokenIds: readonly number[];
  /** Tokens that may not be drawn this step (min_tokens). */
  banned: readonly number[];
  /** In a multi-step call, the leading steps `banned` applies to; all when absent. */
  banSteps?: number;
  /** Tokens that end the sequence once sampled (EOS, stop_token_ids); read by multi-step calls. */
  stopIds?: readonly number[];
  /** logit_bias, added to the logits before penalties and temperature; ids strictly increasing. */
  bias?: LogitBias;
  /**
   * Top-N prompt logprobs still to compute (echo): each prompt token this
   * step computes is scored against the prompt token after it. Absent: none.
   */
  promptTopN?: number;
  /**
   * An embedding request: which hidden states each of its steps returns
   * (1 the chunk's last token's, 2 each token's; 0 none) instead of
   * sampling. Absent: it samples as usual.
   */
  embedRows?: 0 | 1 | 2;
}

/** A request's logit_bias as the step carries it: ids strictly increasing, one value each. */
export interface LogitBias {
  readonly ids: readonly number[];
  readonly values: readonly number[];
}

/** The step's flat arrays: exactly the addon's `Step` (native/README.md). */
export type StepArrays = Required<Step>;

/** Up to this many steps per call when the engine picks the count (vLLM's usual --num-scheduler-steps). */
export const MAX_AUTO_STEPS = 8;

export interface StepResult {
  /** Steps run; the arrays hold `steps` rows of one entry per scheduled seq (row k * S + i). */
  steps: number;
  /** One per scheduled seq and step, -1 where it did not sample. */
  sampled: Int32Array;
  logprob: Float32Array;
  topN: number;
  topIds: Int32Array;
  topLogprobs: Float32Array;
  nativeMs: number;
  packMs: number;
  /** When some seq asked for prompt logprobs: the forward's prompt rows, one per token of the step. */
  prompt?: PromptRows;
  /** When some seq asked for hidden states: its rows, in the order the step's embedRows lists them. */
  hidden?: HiddenRows;
}

/** Hidden states of a step: seq i's rows are rows start[i] .. start[i + 1] of `data` ([rows][width]). */
export interface HiddenRows {
  start: Int32Array;
  width: number;
  data: Float32Array;
}

/** Prompt logprobs of a step: row t is token t of the step; seq i's tokens are rows queryStart[i] .. queryStart[i+1]. */
export interface PromptRows {
  queryStart: Int32Array;
  topN: number;
  logprob: Float32Array;
  /** 1 + the tokens with a larger raw logit than the scored prompt token. */
  rank: Int32Array;
  topIds: Int32Array;
  topLogprobs: Float32Array;
}

export type ForwardOutput = Pick<StepOutput, 'sampled' | 'logprob' | 'topN' | 'topIds' | 'topLogprobs'> &
  Partial<Pick<StepOutput, 'promptTopN' | 'promptLogprob' | 'promptRank' | 'promptTopIds' | 'promptTopLogprobs' | 'hidden'>> & { steps?: number };

/**
 * The native forward as the runner sees it; errors come back as a thrown
 * NativeError. `stepsFor` (the step runner's, forward-policy.ts) says how
 * many decode steps one call should run; without it, one.
 */
export type ForwardFn = ((step: StepArrays) => Promise<ForwardOutput>) & {
  stepsFor?: (tokens: number, max: number) => number;
  /** A counter that moves while a forward runs (native.forwardProgress); null when there is none. */
  progress?: () => number | null;
};

/** A seq samples at the end of its prompt and after; an embedding seq returns its hidden states instead. */
function samples(s: RunnableSeq, sp: SeqSampling): boolean {
  return s.sample && sp.embedRows === undefined;
}

export class ModelRunner {
  private readonly b = new StepBuffers();

  constructor(
    private readonly forwardFn: ForwardFn,
    readonly blockSize: number,
  ) {}

  /** Decode steps of `tokens` tokens that one call should run (1..max). */
  stepsFor(tokens: number, max = MAX_AUTO_STEPS): number {
    return this.forwardFn.stepsFor?.(tokens, max) ?? 1;
  }

  /** The forward's progress counter (ForwardFn.progress); null when the forward has none. */
  progress(): number | null {
    return this.forwardFn.progress?.() ?? null;
  }

  /** Packs the step (numSteps > 1: a multi-step call). Exposed for tests of the layout. */
  pack(seqs: readonly RunnableSeq[], sampling: (requestId: string) => SeqSampling, numSteps = 1): StepArrays {
    const S = seqs.length;
    let T = 0;
    let B = 1;
    let nOut = 0;
    let nPrompt = 0;
    let nBanned = 0;
    let nBias = 0;
    let nStop = 0;
    let wantPrompt = false;
    let wantHidden = false;
    const samp: SeqSampling[] = new Array<SeqSampling>(S);
    for (let i = 0; i < S; i++) {
      const s = seqs[i];
      T += s.numTokens;
      B = Math.max(B, s.blockIds.length);
      const sp = sampling(s.requestId);
      samp[i] = sp;
      if (sp.promptTopN !== undefined && s.startPos < sp.promptTokenIds.length - 1) wantPrompt = true;
      if (sp.embedRows !== undefined && sp.embedRows !== 0) wantHidden = true;
      if (samples(s, sp)) {
        if (sp.presencePenalty !== 0 || sp.frequencyPenalty !== 0 || sp.repetitionPenalty !== 1) nOut += sp.outputTokenIds.length;
        if (sp.repetitionPenalty !== 1) nPrompt += sp.promptTokenIds.length;
        nBanned += sp.banned.length;
        nBias += sp.bias?.ids.length ?? 0;
        if (numSteps > 1) nStop += sp.stopIds?.length ?? 0;
      }
    }
    const b = this.b;
    const a: StepArrays = {
      tokenIds: b.tokenIds.view(T),
      positions: b.positions.view(T),
      slotMapping: b.slotMapping.view(T),
      queryStart: b.queryStart.view(S + 1),
      seqLens: b.seqLens.view(S),
      blockTables: b.blockTables.view(S * B),
      maxBlocksPerSeq: B,
      doSample: b.doSample.view(S),
      temperature: b.temperature.view(S),
      topP: b.topP.view(S),
      topK: b.topK.view(S),
      minP: b.minP.view(S),
      presencePenalty: b.presencePenalty.view(S),
      frequencyPenalty: b.frequencyPenalty.view(S),
      repetitionPenalty: b.repetitionPenalty.view(S),
      seeds: b.seeds.view(S),
      sampleIndex: b.sampleIndex.view(S),
      numLogprobs: b.numLogprobs.view(S),
      outputTokens: b.outputTokens.view(nOut),
      outputStart: b.outputStart.view(S + 1),
      promptTokens: b.promptTokens.view(nPrompt),
      promptStart: b.promptStart.view(S + 1),
      bannedTokens: b.bannedTokens.view(nBanned),
      bannedStart: b.bannedStart.view(S + 1),
      biasTokens: b.biasTokens.view(nBias),
      biasValues: b.biasValues.view(nBias),
      biasStart: b.biasStart.view(S + 1),
      promptTargets: b.promptTargets.view(wantPrompt ? T : 0),
      numPromptLogprobs: b.numPromptLogprobs.view(wantPrompt ? S : 0),
      embedRows: b.embedRows.view(wantHidden ? S : 0),
      numSteps,
      stopTokens: b.stopTokens.view(nStop),
      stopStart: b.stopStart.view(numSteps > 1 ? S + 1 : 0),
      maxSteps: b.maxSteps.view(numSteps > 1 ? S : 0),
      banSteps: b.banSteps.view(numSteps > 1 ? S : 0),
    };
    a.blockTables.fill(0);
    const bs = this.blockSize;
    let t = 0;
    nOut = 0;
    nPrompt = 0;
    nBanned = 0;
    nBias = 0;
    nStop = 0;
    for (let i = 0; i < S; i++) {
      const s = seqs[i];
      const sp = samp[i];
      const sampling = samples(s, sp);
      a.queryStart[i] = t;
      const prompt = wantPrompt && sp.promptTopN !== undefined ? sp.promptTokenIds : null;
      if (wantPrompt) a.numPromptLogprobs[i] = prompt !== null ? (sp.promptTopN ?? -1) : -1;
      for (let j = 0; j < s.numTokens; j++, t++) {
        const pos = s.startPos + j;
        a.tokenIds[t] = s.tokenIds[j];
        a.positions[t] = pos;
        a.slotMapping[t] = s.blockIds[Math.floor(pos / bs)] * bs + (pos % bs);
        if (wantPrompt) a.promptTargets[t] = prompt !== null && pos + 1 < prompt.length ? prompt[pos + 1] : -1;
      }
      a.seqLens[i] = s.startPos + s.numTokens;
      for (let j = 0; j < s.blockIds.length; j++) a.blockTables[i * B + j] = s.blockIds[j];
      if (wantHidden) a.embedRows[i] = sp.embedRows ?? 0;
      a.doSample[i] = sampling ? 1 : 0;
      a.temperature[i] = sp.temperature;
      a.topP[i] = sp.topP;
      a.topK[i] = sp.topK;
      a.minP[i] = sp.minP;
      a.presencePenalty[i] = sp.presencePenalty;
      a.frequencyPenalty[i] = sp.frequencyPenalty;
      a.repetitionPenalty[i] = sp.repetitionPenalty;
      a.seeds[i] = sp.seed;
      a.sampleIndex[i] = sp.outputTokenIds.length;
      a.numLogprobs[i] = sampling ? sp.numLogprobs : -1;
      a.outputStart[i] = nOut;
      a.promptStart[i] = nPrompt;
      a.bannedStart[i] = nBanned;
      a.biasStart[i] = nBias;
      if (sampling) {
        if (sp.presencePenalty !== 0 || sp.frequencyPenalty !== 0 || sp.repetitionPenalty !== 1) {
          for (const tok of sp.outputTokenIds) a.outputTokens[nOut++] = tok;
        }
        if (sp.repetitionPenalty !== 1) {
          for (const tok of sp.promptTokenIds) a.promptTokens[nPrompt++] = tok;
        }
        for (const tok of sp.banned) a.bannedTokens[nBanned++] = tok;
        const bias = sp.bias;
        if (bias !== undefined) {
          for (let j = 0; j < bias.ids.length; j++, nBias++) {
            a.biasTokens[nBias] = bias.ids[j];
            a.biasValues[nBias] = bias.values[j];
          }
        }
      }
      if (numSteps > 1) {
        a.stopStart[i] = nStop;
        if (sampling) for (const tok of sp.stopIds ?? []) a.stopTokens[nStop++] = tok;
        a.maxSteps[i] = s.maxSteps ?? 1;
        a.banSteps[i] = sp.banSteps ?? numSteps;
      }
    }
    a.queryStart[S] = t;
    a.outputStart[S] = nOut;
    a.promptStart[S] = nPrompt;
    a.bannedStart[S] = nBanned;
    a.biasStart[S] = nBias;
    if (numSteps > 1) a.stopStart[S] = nStop;
    return a;
  }

  async execute(seqs: readonly RunnableSeq[], sampling: (requestId: string) => SeqSampling, numSteps = 1): Promise<StepResult> {
    const t0 = performance.now();
    const arrays = this.pack(seqs, sampling, numSteps);
    const t1 = performance.now();
    const out = await this.forwardFn(arrays);
    const t2 = performance.now();
    const res: StepResult = {
      steps: out.steps ?? 1,
      sampled: out.sampled,
      logprob: out.logprob,
      topN: out.topN,
      topIds: out.topIds,
      topLogprobs: out.topLogprobs,
      packMs: t1 - t0,
      nativeMs: t2 - t1,
    };
    if (out.hidden !== undefined && out.hidden.length > 0) {
      // Row counts per seq, as the native side lists them (native/README.md).
      const S = seqs.length;
      const start = new Int32Array(S + 1);
      for (let i = 0; i < S; i++) {
        const mode = arrays.embedRows.length > 0 ? arrays.embedRows[i] : 0;
        start[i + 1] = start[i] + (mode === 1 ? 1 : mode === 2 ? seqs[i].numTokens : 0);
      }
      res.hidden = { start, width: out.hidden.length / start[S], data: out.hidden };
    }
    if (out.promptLogprob !== undefined && out.promptLogprob.length > 0) {
      // queryStart is a view of a reused buffer: the copy outlives the next pack.
      res.prompt = {
        queryStart: arrays.queryStart.slice(),
        topN: out.promptTopN ?? 0,
        logprob: out.promptLogprob,
        rank: out.promptRank ?? new Int32Array(out.promptLogprob.length),
        topIds: out.promptTopIds ?? new Int32Array(0),
        topLogprobs: out.promptTopLogprobs ?? new Float32Array(0),
      };
    }
    return res;
  }
}
