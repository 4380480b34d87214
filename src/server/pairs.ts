// What the two ways of scoring /score and /rerank pairs share (the cosine
// of embeddings, routes/score.ts; a classifier from token, classifier.ts):
// the request's sides, its run, the answer, and each distinct item once.

import { itemParam } from './embeddings.js';

/** One side of the pairs: its texts and the field they came from (which errors name). */
export interface Side {
  param: string;
  texts: string[];
}

/** Where text i of a side came from: the field, or `field.i` when it holds several. */
export function sideParam(s: Side, i: number): string {
  return itemParam(s.param, s.texts.length, i);
}

export interface PairRun {
  /** The response id; the engine requests are `${id}-${k}`. */
  id: string;
  /** One text scored against every right text (1:N), or one per right text (N:N). */
  left: Side;
  right: Side;
  truncate: number | null | undefined;
  priority: number;
}

export interface Scored {
  /** Pair i's score: the left text (the only one, or the i-th) against right text i. */
  scores: number[];
  /** The prompt tokens run, each distinct prompt's once. */
  promptTokens: number;
}

/** The left text of pair i (the only one, or the i-th). */
export function leftOf(run: PairRun, i: number): number {
  return run.left.texts.length === 1 ? 0 : i;
}

/** Items by a key, each distinct one once (in first-seen order), with where each first came from. */
export class Distinct<T> {
  readonly items: T[] = [];
  /** The field each distinct item first came from: what its prompt errors name. */
  readonly origin: string[] = [];
  private readonly slots = new Map<string, number>();

  /** The item's slot in `items`: a new one for a key not seen before. */
  add(key: string, item: T, origin: string): number {
    let k = this.slots.get(key);
    if (k === undefined) {
      k = this.items.length;
      this.slots.set(key, k);
      this.items.push(item);
      this.origin.push(origin);
    }
    return k;
  }
}
