// A response of the Responses API built from what the chat readers read
// (chat-output.ts): thoughts as a reasoning item, the answer as a message
// item with one output_text part, each tool call as a function_call item,
// in the order the model wrote them. A stream gets the events OpenAI sends
// for each step (response.created ... response.completed); a whole response
// is the same writer fed once, so both carry the same items.

import { randomBytes } from 'node:crypto';
import type { ChatRead } from './chat-output.js';
import type { ChatTokenLogprob } from './logprobs.js';
import type { ToolCall } from './tool-parsers.js';

export const itemId = (prefix: 'resp' | 'msg' | 'rs' | 'fc' | 'fco'): string => `${prefix}_${randomBytes(16).toString('hex')}`;

type Status = 'in_progress' | 'completed' | 'incomplete';

interface ReasoningItem {
  id: string;
  type: 'reasoning';
  summary: never[];
  content: { type: 'reasoning_text'; text: string }[];
  status: Status;
}

interface OutputText {
  type: 'output_text';
  text: string;
  annotations: never[];
  logprobs?: ChatTokenLogprob[];
}

interface MessageItem {
  id: string;
  type: 'message';
  role: 'assistant';
  status: Status;
  content: OutputText[];
}

interface FunctionCallItem {
  id: string;
  type: 'function_call';
  call_id: string;
  name: string;
  arguments: string;
  status: Status;
}

export type OutputItem = ReasoningItem | MessageItem | FunctionCallItem;

export interface ResponseEvent {
  type: string;
  sequence_number: number;
  [k: string]: unknown;
}

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** The text item being written (reasoning or message), and its part's text so far. */
interface Open {
  index: number;
  item: ReasoningItem | MessageItem;
  text: string;
  logprobs: ChatTokenLogprob[];
}

export class ResponseWriter {
  private seq = 0;
  readonly output: OutputItem[] = [];
  private open: Open | null = null;
  /** Logprobs of tokens whose text has not been written yet (held back by a reader). */
  private pending: ChatTokenLogprob[] = [];

  /**
   * `fields`: the response object's fields other than id, object,
   * created_at, status, output and usage (the request's echoed settings).
   * `logprobs`: the message's output_text carries its tokens' logprobs.
   */
  constructor(
    readonly id: string,
    readonly createdAt: number,
    private readonly fields: Record<string, unknown>,
    private readonly logprobs: boolean,
  ) {}

  private event(type: string, fields: Record<string, unknown>): ResponseEvent {
    return { type, sequence_number: this.seq++, ...fields };
  }

  /** An error event that ends a stream (OpenAI's ResponseErrorEvent). */
  error(body: { error: { message: string; code: string | null; param: string | null } }): ResponseEvent {
    return this.event('error', { code: body.error.code, message: body.error.message, param: body.error.param });
  }

  response(status: Status, usage: ResponseUsage | null): Record<string, unknown> {
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      status,
      error: null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      ...this.fields,
      output: this.output,
      usage,
    };
  }

  /** The thoughts written so far. */
  reasoningText(): string {
    let text = '';
    for (const item of this.output) {
      if (item.type !== 'reasoning') continue;
      text += item === this.open?.item ? this.open.text : item.content.map((c) => c.text).join('');
    }
    return text;
  }

  /**
   * The response as it stands mid-run (a background response's GET):
   * status in_progress, every item so far, the open one with its text so
   * far (copies: the writer goes on).
   */
  progress(): Record<string, unknown> {
    const open = this.open;
    const output = this.output.map((item, i) => {
      if (open === null || i !== open.index) return { ...item };
      const kind = open.item.type === 'reasoning' ? 'reasoning' : 'message';
      return { ...open.item, content: [this.part(kind, open.text, [...open.logprobs])] };
    });
    return { ...this.response('in_progress', null), output };
  }

  /** The stream's first events. */
  start(): ResponseEvent[] {
    // Copies: the output grows after these are sent.
    const r = { ...this.response('in_progress', null), output: [] };
    return [this.event('response.created', { response: r }), this.event('response.in_progress', { response: r })];
  }

  /** One read of the model's output (and the logprobs of the tokens it came from): the events it makes. */
  push(read: ChatRead, logprobs: readonly ChatTokenLogprob[]): ResponseEvent[] {
    const events: ResponseEvent[] = [];
    this.pending.push(...logprobs);
    if (read.reasoning !== '') {
      events.push(...this.write('reasoning', read.reasoning, []));
      // Thought tokens: their logprobs are no part of the message.
      if (read.content === '') this.pending = [];
    }
    if (read.content !== '') {
      events.push(...this.write('message', read.content, this.pending));
      this.pending = [];
    }
    for (const call of read.calls) events.push(...this.call(call));
    return events;
  }

  /** The last events: the open item closed, then response.completed (or response.incomplete, cut by max_output_tokens). */
  finish(incomplete: boolean, usage: ResponseUsage): ResponseEvent[] {
    const status: Status = incomplete ? 'incomplete' : 'completed';
    // The last tokens' (an end-of-turn's, whose text is not sent) go with the message.
    if (this.open?.item.type === 'message') this.open.logprobs.push(...this.pending);
    this.pending = [];
    const events = this.close(status);
    events.push(this.event(incomplete ? 'response.incomplete' : 'response.completed', { response: this.response(status, usage) }));
    return events;
  }

  private write(kind: 'reasoning' | 'message', text: string, logprobs: readonly ChatTokenLogprob[]): ResponseEvent[] {
    const events: ResponseEvent[] = [];
    if (this.open !== null && this.open.item.type !== kind) events.push(...this.close('completed'));
    let open = this.open;
    if (open === null) {
      const index = this.output.length;
      const item: ReasoningItem | MessageItem =
        kind === 'reasoning'
          ? { id: itemId('rs'), type: 'reasoning', summary: [], content: [], status: 'in_progress' }
          : { id: itemId('msg'), type: 'message', role: 'assistant', status: 'in_progress', content: [] };
      this.output.push(item);
      open = { index, item, text: '', logprobs: [] };
      this.open = open;
      events.push(this.event('response.output_item.added', { output_index: index, item: { ...item, content: [] } }));
      events.push(this.event('response.content_part.added', { item_id: item.id, output_index: index, content_index: 0, part: this.part(kind, '', []) }));
    }
    open.text += text;
    open.logprobs.push(...logprobs);
    const at = { item_id: open.item.id, output_index: open.index, content_index: 0 };
    if (kind === 'reasoning') events.push(this.event('response.reasoning_text.delta', { ...at, delta: text }));
    else events.push(this.event('response.output_text.delta', { ...at, delta: text, logprobs: this.logprobs ? logprobs : [] }));
    return events;
  }

  private part(kind: 'reasoning' | 'message', text: string, logprobs: ChatTokenLogprob[]): ReasoningItem['content'][number] | OutputText {
    if (kind === 'reasoning') return { type: 'reasoning_text', text };
    return { type: 'output_text', text, annotations: [], ...(this.logprobs ? { logprobs } : {}) };
  }

  private close(status: Status): ResponseEvent[] {
    const open = this.open;
    if (open === null) return [];
    this.open = null;
    const { item, index, text } = open;
    const at = { item_id: item.id, output_index: index, content_index: 0 };
    const events: ResponseEvent[] = [];
    if (item.type === 'reasoning') {
      item.content = [{ type: 'reasoning_text', text }];
      events.push(this.event('response.reasoning_text.done', { ...at, text }));
      events.push(this.event('response.content_part.done', { ...at, part: item.content[0] }));
    } else {
      const part = this.part('message', text, open.logprobs) as OutputText;
      item.content = [part];
      events.push(this.event('response.output_text.done', { ...at, text, logprobs: this.logprobs ? open.logprobs : [] }));
      events.push(this.event('response.content_part.done', { ...at, part }));
    }
    item.status = status;
    events.push(this.event('response.output_item.done', { output_index: index, item }));
    return events;
  }

  private call(call: ToolCall): ResponseEvent[] {
    const events = this.close('completed');
    const index = this.output.length;
    const item: FunctionCallItem = { id: itemId('fc'), type: 'function_call', call_id: call.id, name: call.function.name, arguments: call.function.arguments, status: 'completed' };
    this.output.push(item);
    const at = { item_id: item.id, output_index: index };
    events.push(this.event('response.output_item.added', { output_index: index, item: { ...item, arguments: '', status: 'in_progress' } }));
    // Whole: a call is checked to be JSON before any of it is sent (as chat streams it).
    events.push(this.event('response.function_call_arguments.delta', { ...at, delta: item.arguments }));
    events.push(this.event('response.function_call_arguments.done', { ...at, name: item.name, arguments: item.arguments }));
    events.push(this.event('response.output_item.done', { output_index: index, item }));
    return events;
  }
}
