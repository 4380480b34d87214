// Runs one engine request per prompt and merges their outputs in arrival
// order. If the consumer stops early (error, disconnect), every engine
// request still running is aborted.

import type { EmbedSpec, Engine, RequestOutput, SamplingParams, TokenGuide } from '../engine/types.js';

/** Frees guides that never reached the engine (a request refused or abandoned before submission). */
export function disposeGuideSets(sets: readonly (readonly TokenGuide[])[]): void {
  for (const set of sets) for (const g of set) g.dispose();
}

export interface TaggedOutput {
  promptIndex: number;
  output: RequestOutput;
}

/**
 * Submits every prompt now, so the engine's synchronous validation errors
 * (EngineError) surface before a stream has sent its status line, and
 * returns the merged outputs.
 */
/** What a run's prompts carry besides their sampling params. */
export interface PromptExtras {
  /** Per prompt, its choices' guides (response_format); each set belongs to the engine once handed to generate(). */
  guides?: TokenGuide[][] | null;
  /** Embedding requests (/v1/embeddings): each prompt pooled instead of generated from. */
  embed?: EmbedSpec | null;
  /** Per prompt, fields laid over `params` for its request alone (a classifier's allowed token). */
  perPrompt?: readonly Partial<SamplingParams>[] | null;
}

export function runPrompts(
  engine: Engine,
  prompts: readonly number[][],
  params: Partial<SamplingParams>,
  signal: AbortSignal,
  idBase: string,
  { guides = null, embed = null, perPrompt = null }: PromptExtras = {},
): AsyncGenerator<TaggedOutput> {
  const local = new AbortController();
  const both = AbortSignal.any([signal, local.signal]);
  const iters: AsyncIterator<RequestOutput>[] = [];
  let handed = 0;
  try {
    prompts.forEach((ids, i) => {
      handed = i + 1;
      const g = guides?.[i];
      const own = perPrompt?.[i];
      iters.push(
        engine.generate({ requestId: prompts.length === 1 ? idBase : `${idBase}-${i}`, prompt: ids, params: own ? { ...params, ...own } : params, signal: both, ...(g ? { guides: g } : {}), ...(embed ? { embed } : {}) })[
          Symbol.asyncIterator
        ](),
      );
    });
  } catch (err) {
    disposeGuideSets(guides?.slice(handed) ?? []);
    local.abort(new Error('a sibling prompt was rejected'));
    throw err;
  }
  return merge(iters, local);
}

async function* merge(iters: AsyncIterator<RequestOutput>[], local: AbortController): AsyncGenerator<TaggedOutput> {
  type Next = { i: number; r: IteratorResult<RequestOutput> };
  const pending = new Map<number, Promise<Next>>();
  const pull = (i: number): void => {
    pending.set(i, iters[i].next().then((r) => ({ i, r })));
  };
  iters.forEach((_, i) => { pull(i); });
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done === true) {
        pending.delete(i);
        continue;
      }
      yield { promptIndex: i, output: r.value };
      if (r.value.finished) pending.delete(i);
      else pull(i);
    }
  } finally {
    if (pending.size > 0) {
      local.abort(new Error('consumer stopped'));
      // Let the engine's iterators unwind; their failures no longer matter.
      await Promise.allSettled([...pending.keys()].map((i) => Promise.resolve(iters[i].return?.())));
    }
  }
}
