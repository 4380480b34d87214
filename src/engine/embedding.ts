// Embedding requests (GenerateInput.embed): the prompt's final hidden states,
// as the forward returns them chunk by chunk (runner's HiddenRows), pooled
// into one vector: the last token's (vLLM's default for a causal LM), the
// mean over the prompt, or the first token's (CLS); or, with llama.cpp's
// 'none', every token's, one after the other.
import type { HiddenRows } from '../runner/runner.js';
import type { PoolingType } from './types.js';

/** What the step returns for an embedding seq: 1 the chunk's last token's state, 2 every token's. */
export function embedRowsFor(pooling: PoolingType): 1 | 2 {
  return pooling === 'last' ? 1 : 2;
}

/**
 * Prefix-cache hits skip computing the cached tokens, so only 'last'
 * pooling (which reads the one token every request computes) may use them.
 */
export function poolingSkipsPrefixCache(pooling: PoolingType): boolean {
  return pooling !== 'last';
}

export class EmbedPool {
  private sum: Float64Array | null = null;
  private count = 0;
  private last: Float32Array | null = null;
  private first: Float32Array | null = null;
  /** 'none': the rows so far, by chunk. */
  private chunks: Float32Array[] = [];

  constructor(readonly pooling: PoolingType) {}

  /**
   * Books seq `i`'s rows of a step that computed its prompt tokens from
   * `startPos` on. A chunk from position 0 starts over (a preempted request
   * computes its prompt again).
   */
  book(rows: HiddenRows, i: number, startPos: number): void {
    const { start, width, data } = rows;
    const from = start[i];
    const n = start[i + 1] - from;
    if (n === 0) return;
    if (startPos === 0) {
      this.sum = null;
      this.count = 0;
      this.first = this.pooling === 'cls' ? data.slice(from * width, (from + 1) * width) : null;
      this.chunks = [];
    }
    if (this.pooling === 'none') this.chunks.push(data.slice(from * width, (from + n) * width));
    this.last = data.slice((from + n - 1) * width, (from + n) * width);
    if (this.pooling !== 'mean') return;
    const sum = (this.sum ??= new Float64Array(width));
    for (let r = 0; r < n; r++) {
      const off = (from + r) * width;
      for (let d = 0; d < width; d++) sum[d] += data[off + d];
    }
    this.count += n;
  }

  /** The pooled vector once the prompt's last chunk is booked; null when a row it needs never came. */
  result(promptLength: number): Float32Array | null {
    if (this.pooling === 'last') return this.last;
    if (this.pooling === 'cls') return this.first;
    if (this.pooling === 'none') {
      const total = this.chunks.reduce((a, c) => a + c.length, 0);
      const width = total / promptLength;
      if (this.chunks.length === 0 || !Number.isInteger(width)) return null;
      const out = new Float32Array(total);
      let at = 0;
      for (const c of this.chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    }
    if (this.sum === null || this.count !== promptLength) return null;
    const out = new Float32Array(this.sum.length);
    for (let d = 0; d < out.length; d++) out[d] = this.sum[d] / this.count;
    return out;
  }
}

/** What bookEmbeddings needs of a scheduled seq and of its request. */
interface EmbedSeq {
  readonly requestId: string;
  readonly startPos: number;
  readonly sample: boolean;
}
interface EmbedOwner {
  readonly embed: EmbedPool | null;
  readonly promptTokenIds: readonly number[];
}

/**
 * Books a step's hidden rows into the embedding requests among `seqs`
 * (`ownerOf` gives a live seq's request) and returns those whose prompt is
 * now complete (the seq's `sample` step: its last chunk), each with its
 * pooled vector, or null when the forward did not return the rows it needed.
 */
export function bookEmbeddings<O extends EmbedOwner>(
  seqs: readonly EmbedSeq[],
  hidden: HiddenRows | undefined,
  ownerOf: (requestId: string) => O | undefined,
): [O, Float32Array | null][] {
  const done: [O, Float32Array | null][] = [];
  seqs.forEach((s, i) => {
    const owner = ownerOf(s.requestId);
    const pool = owner?.embed;
    if (owner === undefined || pool == null) return;
    if (hidden !== undefined) pool.book(hidden, i, s.startPos);
    if (s.sample) done.push([owner, pool.result(owner.promptTokenIds.length)]);
  });
  return done;
}
