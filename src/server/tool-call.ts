// What every tool-call parser (tool-parsers.ts, tool-parsers-xml.ts) shares:
// the call it reads, the reader's shape, and making a call out of a name and
// its arguments.

import { randomBytes } from 'node:crypto';
import { isRecord } from '../is-record.js';

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** What a piece of output gave: text to send as content, and calls completed by it. */
export interface ToolRead {
  content: string;
  calls: ToolCall[];
}

/** One choice's reader: push() each new piece of text, end() once the choice is done. */
export interface ToolReader {
  push(text: string): ToolRead;
  end(): ToolRead;
}

/** A request's tool as a reader may need it: qwen3_coder types each argument by its parameter's schema. */
export interface ToolSchema {
  name: string;
  parameters: Record<string, unknown>;
}

export const newCallId = (): string => `call_${randomBytes(12).toString('hex')}`;

/** JSON text's value; undefined where it does not parse. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A call from the model's JSON object: a name and its arguments ("arguments" or "parameters", an object or JSON text); null if it is not one. */
export function callFrom(v: unknown): ToolCall | null {
  if (!isRecord(v) || typeof v.name !== 'string' || v.name === '') return null;
  let args: unknown = v.arguments ?? v.parameters ?? {};
  // JSON text that does not parse is undefined here, and so not a call.
  if (typeof args === 'string') args = parseJson(args);
  if (!isRecord(args)) return null;
  return { id: newCallId(), type: 'function', function: { name: v.name, arguments: JSON.stringify(args) } };
}

/**
 * The text around tool-call blocks: before the first call, content as it
 * comes; after a call, whitespace is the blocks' separator, not an answer:
 * a text's trailing whitespace is held, and dropped unless other text
 * follows it (so a text streamed in pieces reads as the whole text does:
 * whether a space is the text's or the separator's is known only later).
 */
export class CallGap {
  private held = '';

  /** Adds `t` to the content up to its trailing whitespace (the held whitespace first, once other text follows). */
  text(t: string, called: boolean, out: ToolRead): void {
    if (!called) {
      out.content += t;
      return;
    }
    const all = this.held + t;
    const end = all.trimEnd().length;
    out.content += all.slice(0, end);
    this.held = all.slice(end);
  }

  /** Drops the held whitespace (a block opens, or the output ends). */
  drop(): void {
    this.held = '';
  }
}
