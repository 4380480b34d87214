// Chat messages -> the prompt's token ids through the model's chat template.

import type { ChatMessage, Engine } from '../engine/types.js';
import type { Encoder } from './encoder.js';
import { badRequest } from './errors.js';

export interface IncomingMessage {
  role: string;
  content?: string | null | { type: string; text?: string }[];
  name?: string;
}

/** OpenAI allows content as a list of parts; only text parts mean anything to a text model. */
export function toChatMessages(messages: readonly IncomingMessage[]): ChatMessage[] {
  if (messages.length === 0) throw badRequest('messages must contain at least one message.', 'messages');
  return messages.map((m, i) => {
    let content: string | null;
    if (Array.isArray(m.content)) {
      const parts = m.content.map((p) => {
        if (p.type !== 'text' || typeof p.text !== 'string') throw badRequest(`messages[${i}].content: only text parts are supported, got "${p.type}".`, `messages.${i}.content`);
        return p.text;
      });
      content = parts.join('\n');
    } else {
      content = m.content ?? null;
    }
    return { role: m.role, content, ...(m.name !== undefined ? { name: m.name } : {}) };
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
