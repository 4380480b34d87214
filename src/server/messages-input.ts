// Anthropic's Messages API (POST /v1/messages, as llama.cpp's server and
// vLLM serve it) in the chat route's terms: system and messages (text,
// tool_use, tool_result and thinking blocks) as chat messages, tools and
// tool_choice in chat's shapes (tools.ts plans them). Images, documents
// and server tools are 400s.

import type { IncomingMessage } from './chat-template.js';
import { badRequest } from './errors.js';
import { isRecord } from '../is-record.js';
import { toolList } from './tools.js';
import type { OutputFormat } from './output-format.js';

/** A system prompt or a tool result: a string or a list of text blocks. */
function textOf(content: unknown, at: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw badRequest(`${at} must be a string or a list of text blocks.`, at);
  return content
    .map((b: unknown, j) => {
      if (isRecord(b) && b.type === 'text' && typeof b.text === 'string') return b.text;
      throw badRequest(`${at}.${j}: only text blocks are supported, got ${JSON.stringify(isRecord(b) ? (b.type ?? null) : b)}.`, `${at}.${j}`);
    })
    .join('\n');
}

/**
 * `system` first, then each message: a user message's tool_result blocks
 * become tool messages (before its text, which is a user message); an
 * assistant message's text, thinking (reasoning_content) and tool_use
 * blocks (tool_calls) make one assistant message.
 */
export function anthropicMessages(system: unknown, messages: unknown): IncomingMessage[] {
  const out: IncomingMessage[] = [];
  if (system !== undefined && system !== null) {
    const text = textOf(system, 'system');
    if (text !== '') out.push({ role: 'system', content: text });
  }
  if (!Array.isArray(messages) || messages.length === 0) throw badRequest('messages must be a non-empty list.', 'messages');
  messages.forEach((m: unknown, i) => {
    const at = `messages.${i}`;
    if (!isRecord(m) || (m.role !== 'user' && m.role !== 'assistant')) throw badRequest(`${at}.role must be "user" or "assistant".`, `${at}.role`);
    const role = m.role;
    const blocks: unknown[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m.content) ? m.content : [];
    if (!Array.isArray(m.content) && typeof m.content !== 'string') throw badRequest(`${at}.content must be a string or a list of content blocks.`, `${at}.content`);
    const texts: string[] = [];
    const calls: object[] = [];
    const thoughts: string[] = [];
    blocks.forEach((b: unknown, j) => {
      const bat = `${at}.content.${j}`;
      const type = isRecord(b) ? b.type : undefined;
      if (isRecord(b) && type === 'text' && typeof b.text === 'string') texts.push(b.text);
      else if (isRecord(b) && role === 'assistant' && type === 'tool_use' && typeof b.id === 'string' && typeof b.name === 'string') {
        calls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
      } else if (isRecord(b) && role === 'assistant' && type === 'thinking' && typeof b.thinking === 'string') thoughts.push(b.thinking);
      else if (isRecord(b) && role === 'assistant' && type === 'redacted_thinking') {
        // Encrypted thoughts from another server: nothing to render.
      } else if (isRecord(b) && role === 'user' && type === 'tool_result' && typeof b.tool_use_id === 'string') {
        const result = b.content === undefined ? '' : textOf(b.content, `${bat}.content`);
        out.push({ role: 'tool', tool_call_id: b.tool_use_id, content: b.is_error === true ? `Error: ${result}` : result });
      } else {
        throw badRequest(`${bat}: a ${JSON.stringify(type ?? null)} block is not supported in a ${role} message by this server; text, tool_use, tool_result and thinking blocks are.`, bat);
      }
    });
    if (role === 'user') {
      if (texts.length > 0) out.push({ role: 'user', content: texts.join('\n') });
      return;
    }
    out.push({
      role: 'assistant',
      content: texts.join(''),
      ...(calls.length > 0 ? { tool_calls: calls } : {}),
      ...(thoughts.length > 0 ? { reasoning_content: thoughts.join('\n') } : {}),
    });
  });
  return out;
}

/** Anthropic's tools ({name, description, input_schema}) in chat's shape; a server tool (web search, bash, ...) is a 400. */
export function anthropicTools(tools: unknown): unknown {
  return toolList(tools, '{"name", "description", "input_schema"}', (t, at) => {
    if (t.type !== undefined && t.type !== null && t.type !== 'custom') throw badRequest(`${at}.type ${JSON.stringify(t.type)} is not supported by this server; only client tools ({"name", "input_schema"}) are.`, `${at}.type`);
    return { type: 'function', function: { name: t.name, ...(typeof t.description === 'string' ? { description: t.description } : {}), parameters: t.input_schema } };
  });
}

/** Anthropic's tool_choice as chat's tool_choice and parallel_tool_calls. */
export function anthropicToolChoice(choice: unknown): { tool_choice: unknown; parallel_tool_calls: boolean | null } {
  if (choice === undefined || choice === null) return { tool_choice: undefined, parallel_tool_calls: null };
  if (!isRecord(choice)) throw badRequest('tool_choice must be {"type": "auto" | "any" | "tool" | "none"}.', 'tool_choice');
  const parallel = choice.disable_parallel_tool_use === true ? false : null;
  if (choice.type === 'auto') return { tool_choice: 'auto', parallel_tool_calls: parallel };
  if (choice.type === 'any') return { tool_choice: 'required', parallel_tool_calls: parallel };
  if (choice.type === 'none') return { tool_choice: 'none', parallel_tool_calls: parallel };
  if (choice.type === 'tool' && typeof choice.name === 'string') return { tool_choice: { type: 'function', function: { name: choice.name } }, parallel_tool_calls: parallel };
  throw badRequest(`tool_choice ${JSON.stringify(choice)} is not supported; {"type": "auto" | "any" | "none"} or {"type": "tool", "name": ...} is.`, 'tool_choice');
}

/** thinking {type: "enabled" | "disabled"} as the template's enable_thinking (Qwen3's switch; other templates ignore it); null when not given. */
export function thinkingKwargs(thinking: unknown): Record<string, unknown> | null {
  if (thinking === undefined || thinking === null) return null;
  const type = isRecord(thinking) ? thinking.type : undefined;
  if (type === 'enabled' || type === 'adaptive' || type === 'between_tools') return { enable_thinking: true };
  if (type === 'disabled') return { enable_thinking: false };
  throw badRequest('thinking must be {"type": "enabled", "budget_tokens": N}, {"type": "adaptive"} or {"type": "disabled"}.', 'thinking');
}

/** thinking.budget_tokens of {"type": "enabled"} (a whole number), else null; thinkingKwargs checks the rest. */
export function thinkingBudget(thinking: unknown): number | null {
  if (!isRecord(thinking) || thinking.type !== 'enabled' || thinking.budget_tokens === undefined || thinking.budget_tokens === null) return null;
  const n = thinking.budget_tokens;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw badRequest(`thinking.budget_tokens must be an integer, got ${JSON.stringify(n)}.`, 'thinking.budget_tokens');
  return n;
}

/** output_config.format (Anthropic's structured outputs): {"type": "json_schema", "schema"} holds the answer to that JSON Schema; effort is not applied. */
export function anthropicOutputFormat(config: unknown): OutputFormat | null {
  if (config === undefined || config === null) return null;
  const field = 'output_config.format';
  if (!isRecord(config)) throw badRequest('output_config must be an object.', 'output_config');
  const f = config.format;
  if (f === undefined || f === null) return null;
  if (!isRecord(f) || f.type !== 'json_schema' || (!isRecord(f.schema) && typeof f.schema !== 'boolean')) throw badRequest(`${field} must be {"type": "json_schema", "schema": {...}}.`, field);
  return { field, spec: { kind: 'json_schema', schema: JSON.stringify(f.schema) } };
}

/** What this server does not run (MCP servers, code-execution containers): 400s, not silently dropped. */
export function rejectUnservedMessageFields(body: Record<string, unknown>): void {
  if (Array.isArray(body.mcp_servers) && body.mcp_servers.length > 0) throw badRequest('mcp_servers is not supported by this server.', 'mcp_servers');
  if (body.container !== undefined && body.container !== null) throw badRequest('container (code execution) is not supported by this server.', 'container');
}
