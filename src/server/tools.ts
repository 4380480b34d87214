// Tool calling on /v1/chat/completions, as vLLM serves it: tool_choice
// naming a function (the output is held to that function's parameters
// schema) or "required" (to a list of calls, each one of the tools with its
// parameters), both by grammar-guided decoding (src/guided/); "auto" (the
// default with tools): the model writes freely and a tool-call parser for
// its own syntax (tool-parsers.ts) reads the calls out of its text; "none"
// leaves the tools out.

import type { GuideSpec } from '../engine/types.js';
import { badRequest } from './errors.js';
import { isRecord } from '../is-record.js';
import { newCallId, type ToolCall, type ToolParserName } from './tool-parsers.js';

export type { ToolCall } from './tool-parsers.js';

export interface ToolFunction {
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
}

/** What the request's tools and tool_choice ask for. */
export interface ToolPlan {
  /** The tools as the chat template gets them (OpenAI's shape). */
  tools: { type: 'function'; function: ToolFunction }[];
  /**
   * A named function, or any number (at least one) of calls to any of them,
   * both held to a grammar (spec); or the model's choice, read by a parser.
   */
  mode: { kind: 'named'; name: string; spec: GuideSpec } | { kind: 'required'; spec: GuideSpec } | { kind: 'auto'; parser: ToolParserName };
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function parseTools(v: unknown): ToolFunction[] {
  if (!Array.isArray(v)) throw badRequest('tools must be a list of {"type": "function", "function": {...}}.', 'tools');
  const seen = new Set<string>();
  return v.map((t: unknown, i) => {
    const at = `tools.${i}`;
    if (!isRecord(t) || t.type !== 'function' || !isRecord(t.function)) throw badRequest(`${at} must be {"type": "function", "function": {"name": ..., "parameters": ...}}.`, at);
    const f = t.function;
    if (typeof f.name !== 'string' || !NAME.test(f.name)) throw badRequest(`${at}.function.name must be 1-64 letters, digits, '_' or '-'.`, `${at}.function.name`);
    if (seen.has(f.name)) throw badRequest(`${at}.function.name "${f.name}" is given twice.`, `${at}.function.name`);
    seen.add(f.name);
    if (f.parameters !== undefined && f.parameters !== null && !isRecord(f.parameters)) throw badRequest(`${at}.function.parameters must be a JSON Schema object.`, `${at}.function.parameters`);
    const parameters = isRecord(f.parameters) ? f.parameters : { type: 'object', properties: {} };
    return { name: f.name, ...(typeof f.description === 'string' ? { description: f.description } : {}), parameters };
  });
}

/**
 * The tools a chat template is given when nothing is generated (llama.cpp's
 * /apply-template, vLLM's /tokenize with messages): the request's tools
 * unless there are none or tool_choice is "none"; null then.
 */
export function templateTools(body: { tools?: unknown; tool_choice?: unknown }): ToolPlan['tools'] | null {
  const hasTools = body.tools !== undefined && body.tools !== null && !(Array.isArray(body.tools) && body.tools.length === 0);
  if (!hasTools || body.tool_choice === 'none') return null;
  return parseTools(body.tools).map((f) => ({ type: 'function' as const, function: f }));
}

/**
 * The request's tool plan, null when no tool is to be called (no tools, or
 * tool_choice "none"). `parser` reads calls for "auto" (null: this model
 * has none, and "auto" is a 400).
 */
export function toolPlan(body: { tools?: unknown; tool_choice?: unknown; parallel_tool_calls?: boolean | null }, parser: ToolParserName | null): ToolPlan | null {
  const hasTools = body.tools !== undefined && body.tools !== null && !(Array.isArray(body.tools) && body.tools.length === 0);
  const choice = body.tool_choice ?? (hasTools ? 'auto' : 'none');
  if (choice === 'none') return null;
  if (!hasTools) throw badRequest('tool_choice needs tools.', 'tool_choice');
  const fns = parseTools(body.tools);
  const tools = fns.map((f) => ({ type: 'function' as const, function: f }));
  if (choice === 'auto') {
    if (parser === null) {
      throw badRequest(
        'tool_choice "auto" (the default with tools) needs a parser for the model\'s tool-call syntax, and this model\'s chat template shows none; start the server with --tool-call-parser (hermes, llama3_json, mistral, pythonic, qwen3_coder, deepseek_v3 or deepseek_v31), or use "required", a named function, or "none".',
        'tool_choice',
      );
    }
    return { tools, mode: { kind: 'auto', parser } };
  }
  if (choice === 'required') {
    const items = fns.map((f) => ({
      type: 'object',
      properties: { name: { type: 'string', enum: [f.name] }, parameters: f.parameters },
      required: ['name', 'parameters'],
    }));
    // parallel_tool_calls false (OpenAI's field): exactly one call.
    const schema = { type: 'array', minItems: 1, ...(body.parallel_tool_calls === false ? { maxItems: 1 } : {}), items: { anyOf: items } };
    return { tools, mode: { kind: 'required', spec: { kind: 'json_schema', schema: JSON.stringify(schema) } } };
  }
  if (isRecord(choice) && choice.type === 'function' && isRecord(choice.function) && typeof choice.function.name === 'string') {
    const name = choice.function.name;
    const f = fns.find((x) => x.name === name);
    if (f === undefined) throw badRequest(`tool_choice names "${name}", which is not one of the tools.`, 'tool_choice');
    return { tools, mode: { kind: 'named', name, spec: { kind: 'json_schema', schema: JSON.stringify(f.parameters) } } };
  }
  throw badRequest(`tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}; got ${JSON.stringify(choice)}.`, 'tool_choice');
}

/**
 * Another API's tool list (the Responses API's, Anthropic's) in chat's
 * shape: `one` converts each tool (and throws its own 400s); absent stays
 * absent, for toolPlan to read as no tools.
 */
export function toolList(tools: unknown, shape: string, one: (t: Record<string, unknown>, at: string) => unknown): unknown {
  if (tools === undefined || tools === null) return tools;
  if (!Array.isArray(tools)) throw badRequest(`tools must be a list of ${shape}.`, 'tools');
  return tools.map((t: unknown, i) => {
    const at = `tools.${i}`;
    if (!isRecord(t)) throw badRequest(`${at} must be an object.`, at);
    return one(t, at);
  });
}

/** tool_choice named or "required": the output is held to a grammar. */
export type GuidedToolMode = Exclude<ToolPlan['mode'], { kind: 'auto' }>;

/**
 * A guided choice's text as tool calls: for a named function the text is
 * its arguments; for "required", a JSON list of {name, parameters}. Text
 * that a length limit cut short is returned as the named call's (partial)
 * arguments, or for "required" as no calls at all (null).
 */
export function guidedToolCalls(mode: GuidedToolMode, text: string): ToolCall[] | null {
  if (mode.kind === 'named') {
    // Compact where it parses (the grammar allows whitespace between elements).
    let args = text;
    try {
      args = JSON.stringify(JSON.parse(text));
    } catch {
      // Cut short by max_tokens: the text as generated.
    }
    return [{ id: newCallId(), type: 'function', function: { name: mode.name, arguments: args } }];
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(list)) return null;
  const calls: ToolCall[] = [];
  for (const c of list) {
    if (!isRecord(c) || typeof c.name !== 'string') return null;
    calls.push({ id: newCallId(), type: 'function', function: { name: c.name, arguments: JSON.stringify(c.parameters ?? {}) } });
  }
  return calls;
}

/**
 * OpenAI's finish_reason for a choice that called tools: "tool_calls" for
 * "required" and for "auto" when the model called one, the engine's for a
 * named function (as OpenAI and vLLM).
 */
export function toolFinish(mode: ToolPlan['mode'], called: boolean, finish: string | null): string | null {
  if (mode.kind !== 'named' && called && finish === 'stop') return 'tool_calls';
  return finish;
}
