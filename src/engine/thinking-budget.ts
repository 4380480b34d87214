// vLLM's thinking_token_budget: at most N tokens inside a choice's first
// thinking block (<think> ... </think>, as token sequences); once the
// model has written N there without closing the block, the next steps
// must sample the closing tokens, one a step, and the answer follows.
// Counted as vLLM counts: the tokens after the opening sequence, the
// prompt's own when the prompt leaves a block open (a template that opens
// the thoughts itself); the closing tokens are not counted.

/** The budget and the tags it watches, as the engine takes them (SamplingParams.thinkingBudget). */
export interface ThinkingBudgetSpec {
  /** Tokens allowed inside the block, >= 0. */
  tokens: number;
  /** The opening and closing tags as token ids (one or more each). */
  start: readonly number[];
  end: readonly number[];
}

/** The last index at which `seq` occurs in `ids`, or -1. */
function lastIndexOf(ids: readonly number[], seq: readonly number[]): number {
  for (let i = ids.length - seq.length; i >= 0; i--) {
    let k = 0;
    while (k < seq.length && ids[i + k] === seq[k]) k++;
    if (k === seq.length) return i;
  }
  return -1;
}

/** Whether `ids` ends with `seq`. */
function endsWith(ids: readonly number[], seq: readonly number[]): boolean {
  if (ids.length < seq.length) return false;
  const off = ids.length - seq.length;
  for (let k = 0; k < seq.length; k++) if (ids[off + k] !== seq[k]) return false;
  return true;
}

/** The longest proper prefix of `seq` that `ids` ends with (0 if none). */
function openPrefix(ids: readonly number[], seq: readonly number[]): number {
  for (let p = Math.min(seq.length - 1, ids.length); p > 0; p--) {
    if (endsWith(ids, seq.slice(0, p))) return p;
  }
  return 0;
}

/** Bans that leave only `id` to sample, one array per (vocabulary size, id): shared by every choice. */
const onlyCache = new Map<string, readonly number[]>();

function allBut(id: number, vocabSize: number): readonly number[] {
  const key = `${vocabSize}:${id}`;
  let ids = onlyCache.get(key);
  if (ids === undefined) {
    const out: number[] = [];
    for (let t = 0; t < vocabSize; t++) if (t !== id) out.push(t);
    ids = out;
    if (onlyCache.size > 64) onlyCache.clear();
    onlyCache.set(key, ids);
  }
  return ids;
}

/**
 * One choice's budget. States: `before` (no block open yet), `thinking`
 * (`count` tokens inside), `closing` (the closing tags being forced:
 * `closed` of them written), `done` (the first block is over: nothing more
 * is forced, a later block included).
 */
export class ThinkingBudget {
  private state: 'before' | 'thinking' | 'closing' | 'done' = 'before';
  private count = 0;
  private closed = 0;

  constructor(
    private readonly spec: ThinkingBudgetSpec,
    promptIds: readonly number[],
    private readonly vocabSize: number,
  ) {
    const open = lastIndexOf(promptIds, spec.start);
    if (open >= 0 && open > lastIndexOf(promptIds, spec.end)) {
      this.state = 'thinking';
      this.count = promptIds.length - open - spec.start.length;
      this.closeIfSpent(promptIds);
    }
  }

  /** The token the next step must sample, or null when the model is free. */
  forced(): number | null {
    return this.state === 'closing' ? this.spec.end[this.closed] : null;
  }

  /** The bans that force forced() (every other id), or null. */
  forcedBans(): readonly number[] | null {
    const id = this.forced();
    return id === null ? null : allBut(id, this.vocabSize);
  }

  /**
   * Steps that may run, in one multi-step call, before one may have to be
   * forced: the opening tag's last token and then the whole budget before a
   * block opens; what is left of the budget inside one; 0 while closing.
   */
  freeSteps(): number {
    switch (this.state) {
      case 'before':
        return this.spec.tokens + 1;
      case 'thinking':
        return Math.max(0, this.spec.tokens - this.count);
      case 'closing':
        return 0;
      default:
        return Infinity;
    }
  }

  /** Books the output's last token (`output`: the choice's output so far, that token last; a tag may span several). */
  book(output: readonly number[]): void {
    const tok = output[output.length - 1];
    switch (this.state) {
      case 'before':
        if (endsWith(output, this.spec.start)) {
          this.state = 'thinking';
          this.count = 0;
          this.closeIfSpent(output);
        }
        return;
      case 'thinking':
        if (endsWith(output, this.spec.end)) {
          this.state = 'done';
          return;
        }
        this.count++;
        this.closeIfSpent(output);
        return;
      case 'closing':
        // Another token than the forced one (a grammar that bans it won): stop forcing.
        if (tok !== this.spec.end[this.closed]) this.state = 'done';
        else if (++this.closed === this.spec.end.length) this.state = 'done';
        return;
      default:
    }
  }

  /** Spent: the closing tags come next, from the part the text already ends with (a tag split over steps). */
  private closeIfSpent(recent: readonly number[]): void {
    if (this.state !== 'thinking' || this.count < this.spec.tokens) return;
    this.state = 'closing';
    this.closed = openPrefix(recent, this.spec.end);
  }
}
