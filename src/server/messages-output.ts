// An Anthropic Messages API message built from what the chat readers read
// (chat-output.ts): thoughts as a thinking block, the answer as a text
// block, each tool call as a tool_use block, in the order the model wrote
// them. A stream gets Anthropic's events (message_start,
// content_block_start / _delta / _stop, message_delta, message_stop); a
// whole message is the same writer fed once, so both carry the same blocks.

import { randomBytes } from 'node:crypto';
import type { ChatRead } from './chat-output.js';
import type { ToolCall } from './tool-parsers.js';

type Block = { type: 'thinking'; thinking: string; signature: string } | { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: unknown };

export interface MessageEvent {
  type: string;
  [k: string]: unknown;
}

export interface MessageUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
}

/** Anthropic's stop_reason for how a choice ended. */
export function stopReason(finish: string | null, stop: string | number | null, called: boolean): { stop_reason: string; stop_sequence: string | null } {
  if (called) return { stop_reason: 'tool_use', stop_sequence: null };
  if (finish === 'length') return { stop_reason: 'max_tokens', stop_sequence: null };
  if (typeof stop === 'string') return { stop_reason: 'stop_sequence', stop_sequence: stop };
  return { stop_reason: 'end_turn', stop_sequence: null };
}

export class MessageWriter {
  readonly content: Block[] = [];
  /** The block being written (thinking or text); null between blocks. */
  private open: Block | null = null;
  private called = false;

  constructor(
    readonly id: string,
    private readonly model: string,
  ) {}

  get calledTools(): boolean {
    return this.called;
  }

  message(stop: { stop_reason: string; stop_sequence: string | null } | null, usage: MessageUsage): Record<string, unknown> {
    return { id: this.id, type: 'message', role: 'assistant', model: this.model, content: this.content, stop_reason: stop?.stop_reason ?? null, stop_sequence: stop?.stop_sequence ?? null, usage };
  }

  /** The stream's first events. */
  start(usage: MessageUsage): MessageEvent[] {
    return [{ type: 'message_start', message: { ...this.message(null, usage), content: [] } }, { type: 'ping' }];
  }

  /** One read of the model's output: the events it makes. */
  push(read: ChatRead): MessageEvent[] {
    const events: MessageEvent[] = [];
    if (read.reasoning !== '') events.push(...this.write('thinking', read.reasoning));
    if (read.content !== '') events.push(...this.write('text', read.content));
    for (const call of read.calls) events.push(...this.call(call));
    return events;
  }

  /** The last events: the open block closed, message_delta (stop reason, usage), message_stop. */
  finish(stop: { stop_reason: string; stop_sequence: string | null }, usage: MessageUsage): MessageEvent[] {
    const events = this.close();
    events.push({ type: 'message_delta', delta: stop, usage }, { type: 'message_stop' });
    return events;
  }

  private write(kind: 'thinking' | 'text', text: string): MessageEvent[] {
    const events: MessageEvent[] = [];
    if (this.open !== null && this.open.type !== kind) events.push(...this.close());
    let open = this.open;
    if (open === null) {
      open = kind === 'thinking' ? { type: 'thinking', thinking: '', signature: '' } : { type: 'text', text: '' };
      this.content.push(open);
      this.open = open;
      events.push({ type: 'content_block_start', index: this.content.length - 1, content_block: { ...open } });
    }
    const index = this.content.length - 1;
    if (open.type === 'thinking') {
      open.thinking += text;
      events.push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: text } });
    } else if (open.type === 'text') {
      open.text += text;
      events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
    }
    return events;
  }

  private close(): MessageEvent[] {
    if (this.open === null) return [];
    this.open = null;
    return [{ type: 'content_block_stop', index: this.content.length - 1 }];
  }

  private call(call: ToolCall): MessageEvent[] {
    const events = this.close();
    const block: Block = { type: 'tool_use', id: call.id.replace(/^call_/, 'toolu_'), name: call.function.name, input: parseArgs(call.function.arguments) };
    this.content.push(block);
    this.called = true;
    const index = this.content.length - 1;
    events.push({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
    // Whole: a call is checked to be JSON before any of it is sent.
    events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: call.function.arguments } });
    events.push({ type: 'content_block_stop', index });
    return events;
  }
}

/** A call's arguments as the object tool_use carries ({} where a cut-short text does not parse). */
function parseArgs(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

export const messageId = (): string => `msg_${randomBytes(12).toString('hex')}`;
