// The reader of tool calls written as tagged blocks, one syntax a parser
// (tool-parsers.ts: hermes; tool-parsers-xml.ts: qwen3_coder, deepseek_v3,
// deepseek_v31).

import { partialTagAt } from './partial-tag.js';
import { CallGap, type ToolCall, type ToolRead, type ToolReader } from './tool-call.js';

/** How one syntax marks its calls. */
export interface BlockSyntax {
  /** Markers around all the calls (DeepSeek's); null: each block stands alone (Qwen's). */
  section: { open: string; close: string } | null;
  open: string;
  close: string;
  /** A new search for where an open block closes (see Closer). */
  closer(): Closer;
  /** The call a block's body is (`closed`: its `close` ended it, rather than the output); null: it is not one (and stays text). */
  call(body: string, closed: boolean): ToolCall | null;
}

/**
 * Where an open block (the text after `open`) closes, fed its text piece
 * by piece: the index in the block of its `close`, once a piece completes
 * it; -1 until then. It reads each piece once, holding back only what may
 * start the marker, so a long block streamed in small pieces is neither
 * searched again nor copied at every piece.
 */
export type Closer = (text: string) => number;

/** A Closer at the first `marker`. */
export function firstOf(marker: string): () => Closer {
  return () => {
    /** The block's last characters, which may start a marker; and where they start in it. */
    let held = '';
    let at = 0;
    return (text) => {
      const window = held + text;
      const i = window.indexOf(marker);
      if (i >= 0) return at + i;
      const keep = Math.min(window.length, marker.length - 1);
      at += window.length - keep;
      held = window.slice(window.length - keep);
      return -1;
    };
  };
}

/**
 * Calls in tagged blocks (hermes' <tool_call>...</tool_call>, qwen3_coder's,
 * DeepSeek's inside a section): text before the calls is content, sent as
 * it comes (only a tail that may open them held back); each call is sent
 * whole when its block closes; whitespace between and after calls is
 * dropped, other text after them is content; a block that is not a call
 * stays text, markers and all; a block left open at the end is a call if
 * what it holds is complete.
 */
export class TaggedBlockReader implements ToolReader {
  private buf = '';
  private where: 'text' | 'section' | 'block' = 'text';
  private called = false;
  /** Whitespace after a call, held until text shows it is not only a separator. */
  private readonly gap = new CallGap();
  /** The section read so far (its opening marker, whitespace) while none of its blocks was a call: text unless one is. */
  private opening = '';
  private sectionCalled = false;
  /** The open block's text, in the pieces it came in (joined once, when it closes), and its search for its close. */
  private pieces: string[] = [];
  private closeAt: Closer = () => -1;

  constructor(private readonly s: BlockSyntax) {}

  push(text: string): ToolRead {
    const out: ToolRead = { content: '', calls: [] };
    if (this.where === 'block') this.feed(text, out);
    else this.buf += text;
    while (this.step(out));
    return out;
  }

  end(): ToolRead {
    const out: ToolRead = { content: '', calls: [] };
    if (this.where === 'block') this.block(this.pieces.join(''), '', out);
    else if (this.where === 'section' && !this.sectionCalled) out.content += this.opening + this.buf;
    else this.text(this.buf, out);
    this.buf = '';
    this.pieces = [];
    this.gap.drop();
    this.opening = '';
    this.where = 'text';
    return out;
  }

  /** Opens a block whose text starts with `text`. */
  private enter(text: string, out: ToolRead): void {
    this.where = 'block';
    this.buf = '';
    this.pieces = [];
    this.closeAt = this.s.closer();
    this.feed(text, out);
  }

  /** More of the open block's text; the block read, and what follows it held, if this closes it. */
  private feed(text: string, out: ToolRead): void {
    this.pieces.push(text);
    const at = this.closeAt(text);
    if (at < 0) return;
    const block = this.pieces.join('');
    this.pieces = [];
    this.block(block.slice(0, at), this.s.close, out);
    this.buf = block.slice(at + this.s.close.length);
    this.where = this.s.section === null ? 'text' : 'section';
  }

  /** Reads on through the held text; false when it needs more. */
  private step(out: ToolRead): boolean {
    const { section, open } = this.s;
    if (this.where === 'block') return false;
    if (this.where === 'section' && section !== null) {
      const rest = this.buf.trimStart();
      const opens = rest.startsWith(open);
      if (opens || rest.startsWith(section.close)) {
        if (!this.sectionCalled) this.opening += this.buf.slice(0, this.buf.length - rest.length);
        if (opens) {
          this.enter(rest.slice(open.length), out);
          return true;
        }
        // A section none of whose blocks was a call is text, markers and all.
        if (!this.sectionCalled) out.content += this.opening + section.close;
        this.opening = '';
        this.buf = rest.slice(section.close.length);
        this.where = 'text';
        return true;
      }
      // What may yet be a marker waits; anything else ends the section, as text.
      if (rest === '' || open.startsWith(rest) || section.close.startsWith(rest)) return false;
      out.content += this.opening;
      this.opening = '';
      this.where = 'text';
      return true;
    }
    const marker = section?.open ?? open;
    const at = this.buf.indexOf(marker);
    if (at < 0) {
      const keep = partialTagAt(this.buf, marker);
      this.text(this.buf.slice(0, this.buf.length - keep), out);
      this.buf = this.buf.slice(this.buf.length - keep);
      return false;
    }
    this.text(this.buf.slice(0, at), out);
    this.gap.drop();
    this.opening = section === null ? '' : marker;
    this.sectionCalled = false;
    const rest = this.buf.slice(at + marker.length);
    if (section === null) this.enter(rest, out);
    else {
      this.buf = rest;
      this.where = 'section';
    }
    return true;
  }

  private text(t: string, out: ToolRead): void {
    this.gap.text(t, this.called, out);
  }

  /** A block's body (`close`: its closing marker, '' if the output ended inside it). */
  private block(body: string, close: string, out: ToolRead): void {
    const call = this.s.call(body, close !== '');
    if (call === null) {
      out.content += this.opening + this.s.open + body + close;
    } else {
      out.calls.push(call);
      this.called = true;
      this.sectionCalled = true;
    }
    this.opening = '';
  }
}
