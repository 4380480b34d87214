// The Responses API's request (POST /v1/responses) in the chat route's
// terms: its input items as chat messages, its function tools and
// tool_choice in chat's shapes (tools.ts plans them), text.format as an
// output format. A previous response's conversation comes first
// (responses-store.ts); item references and conversations are not kept, so
// they are 400s, as is every hosted tool.

import type { GuideSpec } from '../engine/types.js';
import type { IncomingMessage } from './chat-template.js';
import { badRequest } from './errors.js';
import { isRecord } from '../is-record.js';
import type { OutputFormat } from './output-format.js';
import { toolList } from './tools.js';

const ROLES = ['user', 'system', 'developer', 'assistant'];

/** A message's content: a string, or a list of text parts (input_text, output_text; a refusal's text too). */
function textOf(content: unknown, at: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw badRequest(`${at} must be a string or a list of content parts.`, at);
  return content
    .map((p: unknown, j) => {
      const type = isRecord(p) ? p.type : undefined;
      if (isRecord(p) && (type === 'input_text' || type === 'output_text') && typeof p.text === 'string') return p.text;
      if (isRecord(p) && type === 'refusal' && typeof p.refusal === 'string') return p.refusal;
      throw badRequest(`${at}.${j}: only text parts (input_text, output_text) are supported, got ${JSON.stringify(type ?? null)}.`, `${at}.${j}`);
    })
    .join('\n');
}

/** A reasoning item's text (its reasoning_text content, else its summary). */
function reasoningOf(item: Record<string, unknown>, at: string): string {
  const parts = Array.isArray(item.content) && item.content.length > 0 ? item.content : Array.isArray(item.summary) ? item.summary : [];
  return parts
    .map((p: unknown, j) => {
      if (isRecord(p) && typeof p.text === 'string') return p.text;
      throw badRequest(`${at}: reasoning parts must carry text.`, `${at}.${j}`);
    })
    .join('\n');
}

/** `input` as a list of items: a string is one user message; an empty list is a 400. */
export function inputItems(input: unknown): unknown[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (!Array.isArray(input) || input.length === 0) throw badRequest('input must be a string or a non-empty list of items.', 'input');
  return input;
}

/**
 * `instructions` (a system message first, as OpenAI puts it), the items of
 * the conversation before (`before`: a previous response's, as stored) and `input`
 * (a string: one user message; or a list of items) as chat messages. An
 * assistant's function_call items join the assistant message before them
 * (or open one) as its tool_calls; a reasoning item's text becomes the next
 * assistant message's reasoning_content; function_call_output items are
 * tool messages.
 */
export function responsesMessages(input: unknown, instructions: string | null | undefined, before: readonly unknown[] = []): IncomingMessage[] {
  const out: IncomingMessage[] = [];
  if (typeof instructions === 'string' && instructions !== '') out.push({ role: 'system', content: instructions });
  const items = [...before, ...inputItems(input)];
  let thoughts: string | null = null;
  /** The assistant message a function_call item joins: the last message, if it is an assistant's. */
  const assistant = (): IncomingMessage => {
    const last = out[out.length - 1] as IncomingMessage | undefined;
    if (last?.role === 'assistant' && (thoughts === null || last.reasoning_content === undefined)) return last;
    const m: IncomingMessage = { role: 'assistant', content: '' };
    out.push(m);
    return m;
  };
  const withThoughts = (m: IncomingMessage): void => {
    if (thoughts !== null) m.reasoning_content = thoughts;
    thoughts = null;
  };
  items.forEach((item: unknown, k) => {
    // Items of earlier responses were checked when they were stored.
    const at = k < before.length ? 'previous_response_id' : `input.${k - before.length}`;
    if (!isRecord(item)) throw badRequest(`${at} must be an object.`, at);
    const type = item.type ?? 'message';
    if (type === 'message') {
      if (typeof item.role !== 'string' || !ROLES.includes(item.role)) throw badRequest(`${at}.role must be one of ${ROLES.join(', ')}; got ${JSON.stringify(item.role ?? null)}.`, `${at}.role`);
      const m: IncomingMessage = { role: item.role, content: textOf(item.content, `${at}.content`) };
      if (m.role === 'assistant') withThoughts(m);
      out.push(m);
      return;
    }
    if (type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string' || typeof item.arguments !== 'string') {
        throw badRequest(`${at}: a function_call item needs call_id, name and arguments (JSON text).`, at);
      }
      const m = assistant();
      withThoughts(m);
      const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as unknown[]) : [];
      calls.push({ id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } });
      m.tool_calls = calls;
      return;
    }
    if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string') throw badRequest(`${at}.call_id is required for a function_call_output item.`, `${at}.call_id`);
      out.push({ role: 'tool', tool_call_id: item.call_id, content: textOf(item.output, `${at}.output`) });
      return;
    }
    if (type === 'reasoning') {
      thoughts = (thoughts === null ? '' : `${thoughts}\n`) + reasoningOf(item, at);
      return;
    }
    if (type === 'item_reference') throw badRequest(`${at}: item references need stored responses, and this server stores none.`, at);
    throw badRequest(`${at}.type ${JSON.stringify(type)} is not supported by this server; message, function_call, function_call_output and reasoning items are.`, `${at}.type`);
  });
  return out;
}

/** The Responses API's function tools in chat's shape; a hosted tool (web search, file search, MCP, ...) is a 400. */
export function chatTools(tools: unknown): unknown {
  return toolList(tools, '{"type": "function", "name": ..., "parameters": ...}', (t, at) => {
    if (t.type !== 'function') throw badRequest(`${at}.type ${JSON.stringify(t.type ?? null)} is not supported by this server; only function tools are.`, `${at}.type`);
    const { type, ...fn } = t;
    return { type, function: fn };
  });
}

/** tool_choice in chat's shape: {"type": "function", "name"} names a function; the hosted tools' choices are 400s. */
export function chatToolChoice(choice: unknown): unknown {
  if (!isRecord(choice)) return choice;
  if (choice.type === 'function' && typeof choice.name === 'string') return { type: 'function', function: { name: choice.name } };
  throw badRequest(`tool_choice ${JSON.stringify(choice)} is not supported by this server; "none", "auto", "required" or {"type": "function", "name": ...} is.`, 'tool_choice');
}

/** text.format: "text" (or none) leaves the output free; "json_object" and "json_schema" (its schema in the format itself) hold it. */
export function textFormat(text: unknown): OutputFormat | null {
  if (text === undefined || text === null) return null;
  const field = 'text.format';
  if (!isRecord(text)) throw badRequest('text must be an object such as {"format": {"type": "text"}}.', 'text');
  const f = text.format;
  if (f === undefined || f === null) return null;
  const type = isRecord(f) ? f.type : undefined;
  let spec: GuideSpec;
  if (type === 'text') return null;
  if (type === 'json_object') spec = { kind: 'json_object' };
  else if (type === 'json_schema') {
    const schema = isRecord(f) ? f.schema : undefined;
    if (!isRecord(schema) && typeof schema !== 'boolean') throw badRequest(`${field} json_schema needs its JSON Schema in "schema".`, field);
    spec = { kind: 'json_schema', schema: JSON.stringify(schema) };
  } else {
    throw badRequest(`${field} ${JSON.stringify(type ?? null)} is not supported by this server; "text", "json_object" or "json_schema" is.`, field);
  }
  return { field, spec };
}

/** The `include` values understood: logprobs are served; the others name outputs of hosted tools (refused) or encrypted reasoning (not produced; the thoughts come in plain text). */
const INCLUDES = [
  'message.output_text.logprobs',
  'reasoning.encrypted_content',
  'file_search_call.results',
  'web_search_call.results',
  'web_search_call.action.sources',
  'message.input_image.image_url',
  'computer_call_output.output.image_url',
  'code_interpreter_call.outputs',
];

/** Whether `include` asks for the output text's logprobs; a value OpenAI does not define is a 400. */
export function includesLogprobs(include: unknown): boolean {
  if (include === undefined || include === null) return false;
  if (!Array.isArray(include)) throw badRequest('include must be a list of strings.', 'include');
  for (const v of include) {
    if (typeof v !== 'string' || !INCLUDES.includes(v)) throw badRequest(`include ${JSON.stringify(v)} is not one of ${INCLUDES.join(', ')}.`, 'include');
  }
  return include.includes('message.output_text.logprobs');
}

/** Fields that need what this server does not keep or run (previous_response_id: see the route); their neutral values pass. */
export function rejectUnservedResponseFields(body: Record<string, unknown>): void {
  const given = (k: string): boolean => body[k] !== undefined && body[k] !== null;
  if (given('conversation')) throw badRequest('conversation needs stored conversations, and this server stores none; send the whole conversation as input.', 'conversation');
  if (given('prompt')) throw badRequest('prompt (a stored prompt template) is not supported by this server; send instructions and input.', 'prompt');
  if (given('truncation') && body.truncation !== 'disabled') throw badRequest(`truncation ${JSON.stringify(body.truncation)} is not supported by this server; only "disabled" is (an input too long for the context is a 400).`, 'truncation');
  // Chat's names for what this API names otherwise: a clear 400, not a field silently unread.
  for (const [chat, here] of [['max_tokens', 'max_output_tokens'], ['max_completion_tokens', 'max_output_tokens'], ['response_format', 'text.format'], ['messages', 'input']]) {
    if (given(chat)) throw badRequest(`${chat} is a chat completions field; the Responses API takes ${here}.`, chat);
  }
  // One output per response: chat's n has no place here.
  if (given('n') && body.n !== 1) throw badRequest('n is not served by the Responses API (one output per response); use /v1/chat/completions for several choices.', 'n');
  if (given('prompt_logprobs')) throw badRequest('prompt_logprobs is not served by the Responses API; use /v1/completions or /v1/chat/completions.', 'prompt_logprobs');
  if (given('max_tool_calls')) throw badRequest('max_tool_calls is not supported by this server.', 'max_tool_calls');
}
