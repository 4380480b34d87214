// Chat messages -> the prompt's token ids through the model's chat template.

import type { ChatMessage, Engine } from '../engine/types.js';
import type { Encoder } from './encoder.js';
import { badRequest } from './errors.js';

export interface IncomingMessage {
  role: string;
  content?: string | null | { type: string; text?: string }[];
  name?: string;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

/** The roles OpenAI's chat API knows ('tool' is known but not supported here). */
export const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'] as const;

/**
 * Checks the messages and flattens their content. OpenAI allows content as
 * a list of parts; only text parts mean anything to a text model. Every
 * role must be one OpenAI knows (an unknown one would be dropped or
 * mangled by the template); system, developer and user messages need
 * content; an assistant message without content counts as empty text;
 * developer messages reach the template as system messages.
 * Tool messages and tool calls are refused (no tool calling here).
 */
export function toChatMessages(messages: readonly IncomingMessage[]): ChatMessage[] {
  if (messages.length === 0) throw badRequest('messages must contain at least one message.', 'messages');
  return messages.map((m, i) => {
    const at = `messages.${i}`;
    if (!(CHAT_ROLES as readonly string[]).includes(m.role)) {
      throw badRequest(`${at}.role must be one of ${CHAT_ROLES.join(', ')}; got ${JSON.stringify(m.role)}.`, `${at}.role`);
    }
    if (m.role === 'tool') throw badRequest(`Tool messages (${at}.role "tool") are not supported by this server.`, `${at}.role`);
    const calls = m.tool_calls;
    if (calls !== undefined && calls !== null && !(Array.isArray(calls) && calls.length === 0)) {
      throw badRequest(`Tool calls in messages (${at}.tool_calls) are not supported by this server.`, `${at}.tool_calls`);
    }
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
    return { role, content, ...(m.name !== undefined ? { name: m.name } : {}) };
  });
}

/** The rendered prompt's token ids; the template already wrote BOS and friends, so no special tokens are added. */
export async function renderChat(engine: Engine, encoder: Encoder, messages: ChatMessage[], addGenerationPrompt: boolean, extra?: Record<string, unknown>): Promise<number[]> {
  let text: string;
  try {
    text = engine.tokenizer.applyChatTemplate(messages, { addGenerationPrompt, ...(extra ? { extra } : {}) });
  } catch (err) {
    // Template errors (no template, a role it rejects) are the client's to fix.
    throw badRequest(`Cannot apply the chat template: ${err instanceof Error ? err.message : String(err)}`, 'messages');
  }
  return encoder.encode(text, false);
}
