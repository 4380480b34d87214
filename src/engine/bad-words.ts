// vLLM's bad_words: words the output may not contain. Each word becomes
// token sequences as vLLM makes them (the word without leading spaces, and
// with one space before it when that spelling starts with another token of
// the same count: the word at the start of the text and after a space);
// a step bans a sequence's last token when the output ends with the rest of
// it, so a one-token word is banned at every step and a longer one only
// where its beginning has just been written.
import { EngineError } from './errors.js';
import type { TokenizerApi } from './types.js';

/** The most words one request may ban. */
export const MAX_BAD_WORDS = 128;

const NOTHING: readonly number[] = [];

/** The token sequences of `words` (vLLM's rule), or an EngineError naming bad_words. */
export function badWordSequences(words: readonly string[], tokenizer: Pick<TokenizerApi, 'encode'>, vocabSize: number): number[][] {
  if (words.length > MAX_BAD_WORDS) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', `bad_words may hold at most ${MAX_BAD_WORDS} words, got ${words.length}`, 'bad_words');
  const out: number[][] = [];
  for (const word of words) {
    const bare = tokenizer.encode(word.trimStart(), false);
    if (bare.length === 0) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', `bad_words entry ${JSON.stringify(word)} is no token: each must hold some text`, 'bad_words');
    out.push(bare);
    const spaced = tokenizer.encode(` ${word.trimStart()}`, false);
    if (spaced.length === bare.length && spaced[0] !== bare[0]) out.push(spaced);
  }
  for (const seq of out) {
    for (const id of seq) {
      if (id < 0 || id >= vocabSize) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', `bad_words tokenize to id ${id}, outside the model's vocabulary [0, ${vocabSize})`, 'bad_words');
    }
  }
  return out;
}

/** Sorted union of two ascending lists (repeats allowed in either), without repeats. */
function union(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = j >= b.length || (i < a.length && a[i] <= b[j]) ? a[i++] : b[j++];
    if (out.length === 0 || out[out.length - 1] !== x) out.push(x);
  }
  return out;
}

/** A request's bad words as bans (shared by its choices; it keeps no per-choice state). */
export class BadWords {
  /** The one-token words' ids, ascending: banned at every step. */
  private readonly always: readonly number[];
  /** Longer words: [the tokens before the last, the last]. */
  private readonly longer: readonly [readonly number[], number][];

  constructor(sequences: readonly (readonly number[])[]) {
    this.always = [...new Set(sequences.filter((s) => s.length === 1).map((s) => s[0]))].sort((a, b) => a - b);
    this.longer = sequences.filter((s) => s.length > 1).map((s) => [s.slice(0, -1), s[s.length - 1]] as const);
  }

  /** Whether the bans depend on the last tokens (then they hold for one step at a time). */
  get conditional(): boolean {
    return this.longer.length > 0;
  }

  /** What the next step may not sample after `output`, with `extra` (ascending) banned too; ascending. */
  banned(output: readonly number[], extra: readonly number[] = NOTHING): readonly number[] {
    const hit: number[] = [];
    for (const [prefix, last] of this.longer) {
      if (prefix.length > output.length) continue;
      const off = output.length - prefix.length;
      let k = 0;
      while (k < prefix.length && output[off + k] === prefix[k]) k++;
      if (k === prefix.length) hit.push(last);
    }
    if (hit.length === 0 && extra.length === 0) return this.always;
    return union(union(this.always, extra), hit.sort((a, b) => a - b));
  }
}
