// Tool-call parsers for tool_choice "auto": the model writes its calls in
// its own syntax, free text around them, and the parser reads them out of
// the generated text (vLLM's --tool-call-parser). Four syntaxes here, and
// qwen3_coder, deepseek_v3 and deepseek_v31 in tool-parsers-xml.ts:
//   hermes       <tool_call>{"name": ..., "arguments": {...}}</tool_call>,
//                one block per call (Qwen2.5, Qwen3, Hermes, and every
//                template that asks for <tool_call> blocks);
//   llama3_json  the whole output is {"name": ..., "parameters": {...}}, or
//                several joined by ";", after an optional <|python_tag|>
//                (Llama 3.1 / 3.2 templates);
//   mistral      [TOOL_CALLS] then a JSON list of {"name", "arguments"}, or
//                (newer tokenizers) name[ARGS]{...} per call (Mistral 7B
//                v0.3, Nemo, Small);
//   pythonic     the whole output is a Python list of calls with keyword
//                arguments, [get_weather(city='Oslo'), now()], after an
//                optional <|python_start|> (Llama 3.2 with vLLM's pythonic
//                template, Llama 4, ToolACE).
// The parser is picked from the chat template's text, or named with
// --tool-call-parser. One reader serves both responses (chat-output.ts): a
// stream feeds it the deltas; a whole response feeds it the text at once,
// so a streamed choice and a whole one read the same calls out of the same text.

import type { ToolCallParserOption } from '../config/options.js';
import { firstOf, TaggedBlockReader } from './block-reader.js';
import { partialTagAt } from './partial-tag.js';
import { PythonCalls } from './python-calls.js';
import { callFrom, parseJson, type ToolCall, type ToolRead, type ToolReader, type ToolSchema } from './tool-call.js';
import { deepSeekReader, qwen3CoderReader, DEEPSEEK_CALLS, DEEPSEEK_V3_FENCE, QWEN3_CODER_FUNCTION, QWEN3_CODER_PARAMETER } from './tool-parsers-xml.js';

export { newCallId, type ToolCall, type ToolRead, type ToolReader, type ToolSchema } from './tool-call.js';

/** The parsers --tool-call-parser names (its list, in config/options.ts, is the one list of them). */
export type ToolParserName = Exclude<ToolCallParserOption, 'auto' | 'none'>;

function parseCall(text: string): ToolCall | null {
  return callFrom(parseJson(text));
}

const CALL_OPEN = '<tool_call>';
const CALL_CLOSE = '</tool_call>';

/**
 * hermes: <tool_call>{"name": ..., "arguments": ...}</tool_call> blocks
 * (TaggedBlockReader: content as it comes, each call when its block
 * closes, a block whose JSON is not a call stays text, one left open at
 * the end is a call if its JSON is complete).
 */
function hermesReader(): ToolReader {
  return new TaggedBlockReader({ section: null, open: CALL_OPEN, close: CALL_CLOSE, closer: firstOf(CALL_CLOSE), call: (body) => parseCall(body.trim()) });
}

const PYTHON_TAG = '<|python_tag|>';
const PYTHON_START = '<|python_start|>';
const PYTHON_END = '<|python_end|>';

/**
 * An output that is all calls or none (llama3_json, pythonic): one that
 * opens with `opens` (after whitespace or the model's `tag`) is held to its
 * end and read by `parse`; if that finds no calls, all of it is content.
 * Any other output is content, sent as it comes.
 */
class WholeOutputReader implements ToolReader {
  private head = '';
  private mode: 'undecided' | 'calls' | 'text' = 'undecided';

  constructor(
    private readonly tag: string,
    private readonly opens: string,
    /** The calls in the held text (its tag removed), or null if it is not calls only. */
    private readonly parse: (body: string) => ToolCall[] | null,
  ) {}

  push(text: string): ToolRead {
    if (this.mode === 'text') return { content: text, calls: [] };
    this.head += text;
    if (this.mode === 'calls') return { content: '', calls: [] };
    const t = this.head.trimStart();
    const rest = t.startsWith(this.tag) ? t.slice(this.tag.length).trimStart() : t;
    if (rest === '' || (rest.length < this.tag.length && this.tag.startsWith(t))) return { content: '', calls: [] };
    this.mode = rest.startsWith(this.opens) ? 'calls' : 'text';
    if (this.mode === 'calls') return { content: '', calls: [] };
    const content = this.head;
    this.head = '';
    return { content, calls: [] };
  }

  end(): ToolRead {
    const held = this.head;
    this.head = '';
    if (this.mode !== 'calls') return { content: held, calls: [] };
    let body = held.trim();
    if (body.startsWith(this.tag)) body = body.slice(this.tag.length);
    const calls = this.parse(body.trim());
    return calls !== null && calls.length > 0 ? { content: '', calls } : { content: held, calls: [] };
  }
}

/** llama3_json: {"name", "parameters"} objects joined by ";", each one a call. */
function llama3Calls(body: string): ToolCall[] | null {
  const calls: ToolCall[] = [];
  for (const part of splitTopLevel(body)) {
    const call = parseCall(part);
    if (call === null) return null;
    calls.push(call);
  }
  return calls;
}

/** pythonic: one Python list of calls, Llama 4's <|python_end|> after it allowed. */
function pythonicCalls(body: string): ToolCall[] | null {
  const text = body.endsWith(PYTHON_END) ? body.slice(0, -PYTHON_END.length) : body;
  const read = PythonCalls.read(text);
  if (read === null) return null;
  const calls = read.map((c) => callFrom({ name: c.name, arguments: c.args }));
  return calls.every((c) => c !== null) ? calls : null;
}

/** `text` split at the ";" that lie outside JSON strings, objects and arrays; empty parts dropped. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === ';' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const MISTRAL_CALLS = '[TOOL_CALLS]';
const MISTRAL_ARGS = /^([A-Za-z0-9_.-]+)\[ARGS\]([\s\S]*)$/;

/**
 * mistral: text before [TOOL_CALLS] is content, sent as it comes (a tail
 * that may begin the marker is held); everything after it is held to the
 * end and read as calls: a JSON list (or one object) of {name, arguments},
 * or name[ARGS]{...}, one per [TOOL_CALLS]. If any part is not a call, the
 * marker and all after it are content.
 */
class MistralReader implements ToolReader {
  private buf = '';
  private inCalls = false;

  push(text: string): ToolRead {
    this.buf += text;
    if (this.inCalls) return { content: '', calls: [] };
    const at = this.buf.indexOf(MISTRAL_CALLS);
    if (at >= 0) {
      const content = this.buf.slice(0, at);
      this.buf = this.buf.slice(at);
      this.inCalls = true;
      return { content, calls: [] };
    }
    const keep = partialTagAt(this.buf, MISTRAL_CALLS);
    const content = this.buf.slice(0, this.buf.length - keep);
    this.buf = this.buf.slice(this.buf.length - keep);
    return { content, calls: [] };
  }

  end(): ToolRead {
    const held = this.buf;
    this.buf = '';
    if (!this.inCalls) return { content: held, calls: [] };
    const calls: ToolCall[] = [];
    for (const raw of held.split(MISTRAL_CALLS)) {
      const part = raw.trim();
      if (part === '') continue;
      const named = MISTRAL_ARGS.exec(part);
      let got: ToolCall[] | null = null;
      if (named !== null) {
        const args = parseJson(named[2].trim());
        const call = args === undefined ? null : callFrom({ name: named[1], arguments: args });
        got = call === null ? null : [call];
      } else {
        const v = parseJson(part);
        const list = Array.isArray(v) ? v : [v];
        const read = list.map(callFrom);
        got = read.length > 0 && read.every((c) => c !== null) ? read : null;
      }
      if (got === null) return { content: held, calls: [] };
      calls.push(...got);
    }
    return calls.length > 0 ? { content: '', calls } : { content: held, calls: [] };
  }
}

/** `tools`: the request's (qwen3_coder types its arguments by their schemas). */
export function toolReader(parser: ToolParserName, tools: readonly ToolSchema[] = []): ToolReader {
  switch (parser) {
    case 'hermes':
      return hermesReader();
    case 'llama3_json':
      return new WholeOutputReader(PYTHON_TAG, '{', llama3Calls);
    case 'pythonic':
      return new WholeOutputReader(PYTHON_START, '[', pythonicCalls);
    case 'mistral':
      return new MistralReader();
    case 'qwen3_coder':
      return qwen3CoderReader(tools);
    case 'deepseek_v3':
    case 'deepseek_v31':
      return deepSeekReader(parser === 'deepseek_v31');
  }
}

/**
 * The parser a chat template asks for: qwen3_coder when it writes
 * <function=...> and <parameter=...> (inside <tool_call> blocks, so asked
 * before hermes; Llama 3.1's <function=...> prompt has no <parameter=),
 * deepseek_v3 when it writes <｜tool▁calls▁begin｜> and ```json around the
 * arguments, deepseek_v31 when the marker without the fence, hermes when it
 * writes <tool_call> blocks, mistral when it writes [TOOL_CALLS],
 * llama3_json when it speaks of <|python_tag|> or of
 * {"name": ..., "parameters": ...} objects, pythonic when it shows
 * [func_name1(...)] calls (vLLM's and Llama 4's wording) or
 * <|python_start|>; null when it shows no tool syntax.
 */
export function detectToolParser(template: string | null): ToolParserName | null {
  if (template === null) return null;
  if (template.includes(QWEN3_CODER_FUNCTION) && template.includes(QWEN3_CODER_PARAMETER)) return 'qwen3_coder';
  if (template.includes(DEEPSEEK_CALLS)) return template.includes(DEEPSEEK_V3_FENCE) ? 'deepseek_v3' : 'deepseek_v31';
  if (template.includes(CALL_OPEN)) return 'hermes';
  if (template.includes(MISTRAL_CALLS)) return 'mistral';
  if (template.includes(PYTHON_TAG) || /"parameters": dictionary of argument name/.test(template)) return 'llama3_json';
  if (template.includes(PYTHON_START) || template.includes('[func_name1(')) return 'pythonic';
  return null;
}
