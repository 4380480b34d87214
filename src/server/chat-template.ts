// Chat messages -> the prompt's token ids through the model's chat template.

import type { ChatMessage, Engine } from '../engine/types.js';
import type { Encoder } from './encoder.js';
import { badRequest } from './errors.js';
import { isRecord } from '../is-record.js';

export interface IncomingMessage {
  role: string;
  content?: string | null | { type: string; text?: string }[];
  name?: string;
  tool_calls?: unknown;
  tool_call_id?: unknown;
  reasoning_content?: unknown;
}

/** The roles OpenAI's chat API knows. */
export const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'] as const;

/**
 * Checks the messages and flattens their content. OpenAI allows content as
 * a list of parts; only text parts mean anything to a text model. Every
 * role must be one OpenAI knows (an unknown one would be dropped or
 * mangled by the template); system, developer and user messages need
 * content; an assistant message without content counts as empty text;
 * developer messages reach the template as system messages. Tool messages
 * (with their tool_call_id) and an assistant's tool_calls reach the template
 * as the model's own format needs them: each call's arguments, JSON text in
 * OpenAI's API, as an object where it parses (vLLM does the same; templates
 * write them with tojson).
 */
export function toChatMessages(messages: readonly IncomingMessage[]): ChatMessage[] {
  if (messages.length === 0) throw badRequest('messages must contain at least one message.', 'messages');
  return messages.map((m, i) => {
    const at = `messages.${i}`;
    if (!(CHAT_ROLES as readonly string[]).includes(m.role)) {
      throw badRequest(`${at}.role must be one of ${CHAT_ROLES.join(', ')}; got ${JSON.stringify(m.role)}.`, `${at}.role`);
    }
    const calls = m.tool_calls;
    const hasCalls = calls !== undefined && calls !== null && !(Array.isArray(calls) && calls.length === 0);
    if (hasCalls && m.role !== 'assistant') throw badRequest(`${at}.tool_calls: only assistant messages carry tool calls.`, `${at}.tool_calls`);
    let content: string;
    if (Array.isArray(m.content)) {
      const parts = m.content.map((p, j) => {
        if (p.type !== 'text' || typeof p.text !== 'string') throw badRequest(`${at}.content: only text parts are supported, got "${p.type}".`, `${at}.content.${j}`);
        return p.text;
      });
      content = parts.join('\n');
    } else if (typeof m.content === 'string') {
      content = m.content;
    } else if (m.role === 'assistant') {
      content = '';
    } else {
      throw badRequest(`${at}.content is required for a ${m.role} message.`, `${at}.content`);
    }
    // Most templates know no 'developer' and drop it without a word; it is
    // OpenAI's new name for the system message (llama.cpp and vLLM's
    // Responses API map it the same way).
    const role = m.role === 'developer' ? 'system' : m.role;
    const extra: Record<string, unknown> = {};
    if (m.name !== undefined) extra.name = m.name;
    if (m.role === 'tool') {
      if (typeof m.tool_call_id !== 'string') throw badRequest(`${at}.tool_call_id is required for a tool message.`, `${at}.tool_call_id`);
      extra.tool_call_id = m.tool_call_id;
    }
    if (hasCalls) extra.tool_calls = templateCalls(calls, `${at}.tool_calls`);
    // An assistant's thoughts as this server returned them: templates that
    // think (Qwen3's) keep them between the tool calls of the current turn.
    if (m.role === 'assistant' && m.reasoning_content !== undefined && m.reasoning_content !== null) {
      if (typeof m.reasoning_content !== 'string') throw badRequest(`${at}.reasoning_content must be a string.`, `${at}.reasoning_content`);
      extra.reasoning_content = m.reasoning_content;
    }
    return { role, content, ...extra };
  });
}

/** An assistant message's tool_calls as templates read them (arguments parsed where they are JSON). */
function templateCalls(calls: unknown, at: string): object[] {
  if (!Array.isArray(calls)) throw badRequest(`${at} must be a list of tool calls.`, at);
  return calls.map((c: unknown, i) => {
    const f = isRecord(c) ? c.function : undefined;
    if (!isRecord(c) || !isRecord(f) || typeof f.name !== 'string' || typeof f.arguments !== 'string') {
      throw badRequest(`${at}.${i} must be {"id": ..., "type": "function", "function": {"name": ..., "arguments": "<JSON text>"}}.`, `${at}.${i}`);
    }
    let args: unknown = f.arguments;
    try {
      args = JSON.parse(f.arguments);
    } catch {
      // Kept as the text the client sent.
    }
    return { id: c.id, type: 'function', function: { name: f.name, arguments: args } };
  });
}

/** How the chat ends: a new assistant turn opened (add_generation_prompt), the last message left open to be continued, or neither. */
export interface ChatEnding {
  addGenerationPrompt: boolean;
  continueFinalMessage: boolean;
}

/**
 * vLLM's add_generation_prompt (default true) and continue_final_message
 * (default false; the last message is left open, no end-of-turn, and the
 * output continues it). Both true is a 400 as in vLLM; unlike vLLM,
 * continue_final_message alone turns the generation prompt off.
 */
export function chatEnding(body: { add_generation_prompt?: boolean | null; continue_final_message?: boolean | null }): ChatEnding {
  const continueFinalMessage = body.continue_final_message === true;
  if (continueFinalMessage && body.add_generation_prompt === true) {
    throw badRequest('continue_final_message and add_generation_prompt cannot both be true: the output either continues the last message or opens a new one.', 'continue_final_message');
  }
  return { addGenerationPrompt: body.add_generation_prompt ?? !continueFinalMessage, continueFinalMessage };
}

/**
 * The rendered prompt's text and token ids; the template already wrote BOS
 * and friends, so no special tokens are added. To continue the final
 * message, the chat is rendered without a generation prompt and cut right
 * after that message's text (what Hugging Face's apply_chat_template does:
 * whatever the template writes after it, an end-of-turn token, goes).
 */
export async function renderChat(engine: Engine, encoder: Encoder, messages: ChatMessage[], ending: ChatEnding, extra?: Record<string, unknown>): Promise<{ text: string; ids: number[] }> {
  let text: string;
  try {
    text = engine.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: ending.addGenerationPrompt, ...(extra ? { extra } : {}) });
  } catch (err) {
    // Template errors (no template, a role it rejects) are the client's to fix.
    throw badRequest(`Cannot apply the chat template: ${err instanceof Error ? err.message : String(err)}`, 'messages');
  }
  if (ending.continueFinalMessage) text = cutAfterFinal(text, messages[messages.length - 1].content ?? '');
  return { text, ids: await encoder.encode(text, false) };
}

/** The rendered chat up to the end of the final message's text (or of that text without its trailing whitespace, which templates often trim). */
function cutAfterFinal(text: string, final: string): string {
  for (const want of [final, final.trimEnd()]) {
    const at = want === '' ? -1 : text.lastIndexOf(want);
    if (at >= 0) return text.slice(0, at + want.length);
  }
  throw badRequest('continue_final_message: the final message\'s text does not appear in the rendered chat (it is empty, or the chat template rewrites it), so there is nothing to continue.', 'continue_final_message');
}
