// Incremental detokenization for one choice, with stop strings.
//
// Decoding token by token breaks multi-byte characters (byte-level BPE splits
// them across tokens) and drops SentencePiece's leading spaces, so text is
// decoded over a small window: `decode(ids[prefix..])` minus
// `decode(ids[prefix..read])`. A delta is only taken when it does not end in
// U+FFFD (an incomplete UTF-8 sequence); otherwise the tokens wait for the next
// one. Text that might be the start of a stop string is held back until it
// is known not to be one.
import type { TokenizerApi } from './types.js';

const REPLACEMENT = '\uFFFD';
/** Prompt tokens kept as decoding context, as vLLM does. */
const CONTEXT_TOKENS = 5;

export interface StopHit {
  stop: string;
}

export class IncrementalDetokenizer {
  private readonly ids: number[];
  private prefixOffset: number;
  private readOffset: number;
  /** All decoded output text so far (may include a held-back tail). */
  private text = '';
  /** How much of `text` has been handed out. */
  private emitted = 0;
  private readonly maxStopLen: number;
  private stopped = false;

  constructor(
    private readonly tok: TokenizerApi,
    promptIds: readonly number[],
    private readonly skipSpecial: boolean,
    private readonly stops: readonly string[],
    private readonly includeStop: boolean,
  ) {
    const ctx = promptIds.slice(Math.max(0, promptIds.length - CONTEXT_TOKENS));
    this.ids = [...ctx];
    this.prefixOffset = 0;
    this.readOffset = ctx.length;
    this.maxStopLen = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /**
   * Adds one generated token. Returns the stop string if one now appears in the
   * output; the text is then cut at it (kept when include_stop_str_in_output).
   */
  push(tokenId: number): StopHit | null {
    if (this.stopped) return null;
    this.ids.push(tokenId);
    const prefixText = this.tok.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.skipSpecial);
    const fullText = this.tok.decode(this.ids.slice(this.prefixOffset), this.skipSpecial);
    if (fullText.length <= prefixText.length || fullText.endsWith(REPLACEMENT)) return null;
    const delta = fullText.slice(prefixText.length);
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    const searchFrom = Math.max(0, this.text.length - this.maxStopLen + 1);
    this.text += delta;
    if (this.maxStopLen === 0) return null;
    let best: { at: number; stop: string } | null = null;
    for (const s of this.stops) {
      const at = this.text.indexOf(s, searchFrom);
      if (at >= 0 && (best === null || at < best.at)) best = { at, stop: s };
    }
    if (best === null) return null;
    this.text = this.text.slice(0, this.includeStop ? best.at + best.stop.length : best.at);
    this.stopped = true;
    return { stop: best.stop };
  }

  /**
   * Text not handed out yet. Unless `final`, keeps back a tail that could
   * still grow into a stop string.
   */
  take(final: boolean): string {
    let upTo = this.text.length;
    if (!final && !this.stopped && this.maxStopLen > 0) {
      upTo = Math.max(this.emitted, this.text.length - this.holdBack());
    }
    const out = this.text.slice(this.emitted, upTo);
    this.emitted = upTo;
    return out;
  }

  /**
   * At the end of a choice, decodes tokens still waiting for the rest of a
   * UTF-8 sequence (the text then carries U+FFFD, as other servers send it).
   */
  flush(): void {
    if (this.stopped || this.readOffset >= this.ids.length) return;
    const prefixText = this.tok.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.skipSpecial);
    const fullText = this.tok.decode(this.ids.slice(this.prefixOffset), this.skipSpecial);
    if (fullText.length > prefixText.length) this.text += fullText.slice(prefixText.length);
    this.readOffset = this.ids.length;
  }

  get outputText(): string {
    return this.text;
  }

  /** Length of the longest suffix of text that is a proper prefix of a stop string. */
  private holdBack(): number {
    let keep = 0;
    for (const s of this.stops) {
      const maxK = Math.min(s.length - 1, this.text.length);
      for (let k = maxK; k > keep; k--) {
        if (this.text.endsWith(s.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    return keep;
  }
}
