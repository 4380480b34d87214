// Reasoning parsers: a model that thinks before it answers (Qwen3,
// DeepSeek-R1, QwQ) writes its thoughts in <think>...</think>; the chat API
// returns them apart, as `reasoning_content` (vLLM's --reasoning-parser,
// llama.cpp's --reasoning-format). vLLM's names qwen3 and deepseek_r1 are
// the same reader here: the thoughts are what lies between <think> and
// </think>, whether the output opens the block (Qwen3) or the rendered
// prompt already did (DeepSeek-R1's template, Qwen3 thinking-only models).
// One reader serves a stream (deltas pushed as they come) and a whole
// response (the text pushed at once), so both split the same text the same way.

import type { ReasoningParserOption } from '../config/options.js';
import { partialTagAt } from './partial-tag.js';

/** The parsers --reasoning-parser names (its list, in config/options.ts, is the one list of them). */
export type ReasoningParserName = Exclude<ReasoningParserOption, 'auto' | 'none'>;

const OPEN = '<think>';
const CLOSE = '</think>';

export interface ReasoningRead {
  reasoning: string;
  content: string;
}

/** Whether `prompt` (the rendered chat) ends inside an open <think> block: the model's output starts as thoughts. */
export function promptOpensThinking(prompt: string): boolean {
  const open = prompt.lastIndexOf(OPEN);
  return open >= 0 && prompt.indexOf(CLOSE, open) < 0;
}

/**
 * One choice's split. States: `start` (the output has not yet shown
 * whether it opens <think>: leading whitespace and a partial tag are held),
 * `thinking` (text is reasoning up to </think>; a tail that may begin it is
 * held), `answer` (text is content; the whitespace right after </think> is
 * dropped). An output that does not open with <think> is all content; one
 * that never closes its block is all reasoning.
 */
export class ReasoningReader {
  private state: 'start' | 'thinking' | 'answer';
  private buf = '';
  /** After </think>: whitespace is dropped until the answer begins. */
  private trimming = false;

  constructor(openedByPrompt: boolean) {
    this.state = openedByPrompt ? 'thinking' : 'start';
  }

  push(text: string): ReasoningRead {
    const out: ReasoningRead = { reasoning: '', content: '' };
    this.buf += text;
    if (this.state === 'start') {
      const t = this.buf.trimStart();
      if (t.startsWith(OPEN)) {
        this.buf = t.slice(OPEN.length);
        this.state = 'thinking';
      } else if (OPEN.startsWith(t)) {
        return out; // whitespace or a partial <think>: not known yet
      } else {
        this.state = 'answer';
      }
    }
    if (this.state === 'thinking') {
      const close = this.buf.indexOf(CLOSE);
      if (close < 0) {
        const keep = partialTagAt(this.buf, CLOSE);
        out.reasoning = this.buf.slice(0, this.buf.length - keep);
        this.buf = this.buf.slice(this.buf.length - keep);
        return out;
      }
      out.reasoning = this.buf.slice(0, close);
      this.buf = this.buf.slice(close + CLOSE.length);
      this.state = 'answer';
      this.trimming = true;
    }
    if (this.trimming) {
      this.buf = this.buf.trimStart();
      if (this.buf === '') return out;
      this.trimming = false;
    }
    out.content = this.buf;
    this.buf = '';
    return out;
  }

  end(): ReasoningRead {
    const rest = this.buf;
    this.buf = '';
    if (this.state === 'thinking') return { reasoning: rest, content: '' };
    if (this.trimming) return { reasoning: '', content: '' };
    return { reasoning: '', content: rest };
  }
}

/** Thinking's tokens in one vocabulary (what a guide waits for). */
export interface ThinkingIds {
  start: number;
  end: number;
  /** Whitespace that may follow </think> before a grammar holds the answer ("\n\n", "\n", " " where each is one token), ascending. */
  gap: number[];
}

const thinkIds = new WeakMap<object, ThinkingIds | null>();

/** The ids of <think> and </think> when each is one token of `tokenizer`, and the whitespace after; null otherwise. */
export function thinkingTokenIds(tokenizer: { encode(text: string, addSpecialTokens?: boolean): number[] }): ThinkingIds | null {
  let ids = thinkIds.get(tokenizer);
  if (ids === undefined) {
    const { start, end } = thinkingTags(tokenizer);
    const gap = ['\n\n', '\n', ' '].map((w) => tokenizer.encode(w, false)).flatMap((e) => (e.length === 1 ? e : []));
    ids = start.length === 1 && end.length === 1 ? { start: start[0], end: end[0], gap: [...new Set(gap)].sort((a, b) => a - b) } : null;
    thinkIds.set(tokenizer, ids);
  }
  return ids;
}

/** <think> and </think> as token ids (one or more each). */
export interface ThinkingTags {
  start: number[];
  end: number[];
}

const tagIds = new WeakMap<object, ThinkingTags>();

/** <think> and </think> as `tokenizer` writes them: what a thinking budget watches (and, one token each, a guide: thinkingTokenIds). */
export function thinkingTags(tokenizer: { encode(text: string, addSpecialTokens?: boolean): number[] }): ThinkingTags {
  let tags = tagIds.get(tokenizer);
  if (tags === undefined) {
    tags = { start: tokenizer.encode(OPEN, false), end: tokenizer.encode(CLOSE, false) };
    tagIds.set(tokenizer, tags);
  }
  return tags;
}

/** The tags a thinking budget counts between when the server reads thoughts (a reasoning parser), else null. */
export function budgetTags(parser: ReasoningParserName | null, tokenizer: { encode(text: string, addSpecialTokens?: boolean): number[] }): ThinkingTags | null {
  return parser === null ? null : thinkingTags(tokenizer);
}

/**
 * The parser a chat template asks for: one that writes <think> blocks
 * (Qwen3, QwQ, DeepSeek-R1) gets the <think> reader; null otherwise.
 */
export function detectReasoningParser(template: string | null): ReasoningParserName | null {
  return template !== null && template.includes(OPEN) && template.includes(CLOSE) ? 'qwen3' : null;
}
