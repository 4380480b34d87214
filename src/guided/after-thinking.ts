// A guide that lets a reasoning model think first: its <think>...</think>
// block is free text and the grammar holds what follows (vLLM does the same
// with structured outputs under a reasoning parser). Without it, a grammar
// from the first token bans <think>, and the model answers without thinking.
import type { TokenGuide } from './xgrammar.js';

export interface ThinkingTokens {
  /** The ids of <think> and </think> (each one token in the vocabularies that use them). */
  start: number;
  end: number;
  /** The rendered prompt left a <think> block open: the output starts as thoughts. */
  opened: boolean;
  /**
   * Whitespace tokens let through right after </think> (ascending), at most
   * GAP_TOKENS of them: Qwen3 writes "</think>\n\n" before its answer, which
   * a JSON grammar's first token would ban.
   */
  gap?: readonly number[];
}

/** How many whitespace tokens may come between </think> and the grammar's first. */
export const GAP_TOKENS = 2;

const NOTHING: readonly number[] = [];

/**
 * `inner` applied after the thoughts. States: `undecided` (the first token:
 * the grammar's or <think>), `thinking` (nothing banned until </think>),
 * `gap` (right after </think>: the grammar's first token or whitespace),
 * `guided` (the grammar's bans). A model that never closes its block is
 * never held; one that does not open one is held from its first token.
 */
export function afterThinking(inner: TokenGuide, t: ThinkingTokens): TokenGuide {
  let state: 'undecided' | 'thinking' | 'gap' | 'guided' = t.opened ? 'thinking' : 'undecided';
  const gap = t.gap ?? NOTHING;
  let gapped = 0;
  return {
    rejected(): readonly number[] {
      if (state === 'thinking') return NOTHING;
      const banned = inner.rejected();
      // Rejected ids are ascending; <think> is let through at the start, whitespace right after </think>.
      if (state === 'undecided' && banned.includes(t.start)) return banned.filter((id) => id !== t.start);
      if (state === 'gap' && gap.some((id) => banned.includes(id))) return banned.filter((id) => !gap.includes(id));
      return banned;
    },
    accept(token: number): boolean {
      if (state === 'thinking') {
        if (token === t.end) state = gap.length > 0 ? 'gap' : 'guided';
        return true;
      }
      if (state === 'gap' && gap.includes(token)) {
        if (++gapped >= GAP_TOKENS) state = 'guided';
        return true;
      }
      if (state === 'undecided' && token === t.start) {
        state = 'thinking';
        return true;
      }
      state = 'guided';
      return inner.accept(token);
    },
    refresh(): Promise<void> {
      return state === 'guided' ? inner.refresh() : Promise.resolve();
    },
    dispose(): void {
      inner.dispose();
    },
  };
}
