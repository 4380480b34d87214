// The tool-call parsers whose calls are tagged blocks with a syntax of their
// own inside (tool-parsers.ts picks and names them):
//   qwen3_coder   <tool_call>\n<function=NAME>\n<parameter=KEY>\nvalue\n
//                 </parameter>\n...</function>\n</tool_call>, one block per
//                 call, each value raw text typed by the tool's schema for
//                 it, the </function> of a closed block optional, as vLLM's
//                 qwen3coder_tool_parser (Qwen3-Coder, and the Qwen3.5 /
//                 Qwen3-Next templates that write the same);
//   deepseek_v3   <｜tool▁calls▁begin｜>, then per call <｜tool▁call▁begin｜>
//                 function<｜tool▁sep｜>NAME\n```json\n{...}\n```
//                 <｜tool▁call▁end｜>, then <｜tool▁calls▁end｜> (DeepSeek-V3, R1);
//   deepseek_v31  the same section, each call NAME<｜tool▁sep｜>{...}
//                 (DeepSeek-V3.1).
// Read by block-reader.ts's TaggedBlockReader, as hermes' blocks are.

import { isRecord } from '../is-record.js';
import { firstOf, TaggedBlockReader, type Closer } from './block-reader.js';
import { typedArgument } from './qwen3-coder-args.js';
import { callFrom, newCallId, type ToolCall, type ToolReader, type ToolSchema } from './tool-call.js';

/** A function or parameter name as vLLM takes it: no whitespace, quotes, braces or angle brackets. */
const NAME = /^[^\s{}<>"']+$/;

const QWEN_OPEN = '<tool_call>';
const QWEN_CLOSE = '</tool_call>';
export const QWEN3_CODER_FUNCTION = '<function=';
const FUNCTION_END = '</function>';
export const QWEN3_CODER_PARAMETER = '<parameter=';
const PARAMETER_END = '</parameter>';

/**
 * Where a qwen3_coder block closes: at the first </tool_call> right after
 * </function> (a value, code say, may hold a </tool_call> of its own); if
 * no </function> came before it (the model left it out, which vLLM
 * accepts), at the first one outside a value: right after a </parameter>,
 * or after the <function=NAME> with no parameter; at the first one if the
 * block is not a <function=...> (and so text). Whether a </tool_call>
 * closes rests on the text before it only, so the block is read once, in
 * order, keeping only what that needs.
 */
function qwenCloser(): Closer {
  /** The text not read yet (what may start a </tool_call>), and where it starts in the block. */
  let held = '';
  let at = 0;
  /** Whether the leading whitespace is behind; the first characters after it. */
  let started = false;
  let head = '';
  /** How many '<' after the leading whitespace, up to 2. */
  let tags = 0;
  /** Whether a </function> was read; if not, the last characters read, which may start one. */
  let functionEnded = false;
  let fnHeld = '';
  /** The last characters up to the last one that is not whitespace, and the whitespace since (its last characters). */
  let last = '';
  let space = '';
  const keep = PARAMETER_END.length;

  const read = (s: string): void => {
    let from = 0;
    if (!started) {
      from = s.length - s.trimStart().length;
      started = from < s.length;
    }
    if (started && head.length < QWEN3_CODER_FUNCTION.length) head += s.slice(from, from + QWEN3_CODER_FUNCTION.length - head.length);
    for (let i = started ? s.indexOf('<', from) : -1; i >= 0 && tags < 2; i = s.indexOf('<', i + 1)) tags++;
    if (!functionEnded) {
      const w = fnHeld + s;
      functionEnded = w.includes(FUNCTION_END);
      fnHeld = w.slice(Math.max(0, w.length - FUNCTION_END.length + 1));
    }
    const end = s.trimEnd().length;
    if (end > 0) {
      const w = last + space + s.slice(Math.max(0, end - keep), end);
      last = w.slice(Math.max(0, w.length - keep));
      space = '';
    }
    const ws = space + s.slice(end);
    space = ws.slice(Math.max(0, ws.length - keep));
  };

  /** Whether a </tool_call> after all that was read closes the block. */
  const closes = (): boolean => {
    if (head !== QWEN3_CODER_FUNCTION) return true;
    if (functionEnded) return last.endsWith(FUNCTION_END);
    // Outside a value: after a </parameter>, or after the function's own tag with no other tag since.
    return last.endsWith(PARAMETER_END) || (last.endsWith('>') && tags === 1);
  };

  return (text) => {
    const window = held + text;
    let done = 0;
    for (let i = window.indexOf(QWEN_CLOSE); i >= 0; i = window.indexOf(QWEN_CLOSE, done)) {
      read(window.slice(done, i));
      if (closes()) return at + i;
      done = i + QWEN_CLOSE.length;
      read(window.slice(i, done));
    }
    const rest = Math.min(window.length - done, QWEN_CLOSE.length - 1);
    read(window.slice(done, window.length - rest));
    at += window.length - rest;
    held = window.slice(window.length - rest);
    return -1;
  };
}

/**
 * <function=NAME> ... </function>, each argument typed by the tool's
 * schema; in a block its </tool_call> closed, the </function> may be left
 * out (as vLLM); null if the body is not that.
 */
function qwenCall(body: string, closed: boolean, tools: readonly ToolSchema[]): ToolCall | null {
  const t = body.trim();
  const ended = t.endsWith(FUNCTION_END);
  if (!t.startsWith(QWEN3_CODER_FUNCTION) || !(ended || closed)) return null;
  const inner = ended ? t.slice(0, t.length - FUNCTION_END.length) : t;
  const nameEnd = inner.indexOf('>', QWEN3_CODER_FUNCTION.length);
  if (nameEnd < 0) return null;
  const name = inner.slice(QWEN3_CODER_FUNCTION.length, nameEnd);
  if (!NAME.test(name)) return null;
  const props = tools.find((f) => f.name === name)?.parameters.properties;
  const args = qwenArgs(inner.slice(nameEnd + 1), isRecord(props) ? props : {});
  return args === null ? null : { id: newCallId(), type: 'function', function: { name, arguments: args } };
}

/** The <parameter=KEY>value</parameter> list as compact JSON, keys in the model's order (a repeated one: its last value); null if other text is between them. */
function qwenArgs(params: string, props: Record<string, unknown>): string | null {
  const args = new Map<string, unknown>();
  let pos = 0;
  for (;;) {
    while (pos < params.length && /\s/.test(params[pos])) pos++;
    if (pos === params.length) break;
    if (!params.startsWith(QWEN3_CODER_PARAMETER, pos)) return null;
    const nameEnd = params.indexOf('>', pos + QWEN3_CODER_PARAMETER.length);
    const key = nameEnd < 0 ? '' : params.slice(pos + QWEN3_CODER_PARAMETER.length, nameEnd);
    if (!NAME.test(key)) return null;
    const [end, next] = valueEnd(params, nameEnd + 1);
    // One newline after the tag and one before the closing tag are the format's, not the value's (as vLLM).
    let value = params.slice(nameEnd + 1, end);
    if (value.startsWith('\n')) value = value.slice(1);
    if (value.endsWith('\n')) value = value.slice(0, -1);
    args.set(key, typedArgument(value, Object.hasOwn(props, key) ? props[key] : undefined));
    pos = next;
  }
  return `{${[...args].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
}

/**
 * Where a value from `from` ends, and where what follows it starts: at the
 * first </parameter> that only whitespace and another <parameter= or the
 * function's end follow; with none (the model left it out), at the next
 * <parameter= that starts a line, or the end (as vLLM).
 */
function valueEnd(params: string, from: number): [number, number] {
  for (let at = params.indexOf(PARAMETER_END, from); at >= 0; at = params.indexOf(PARAMETER_END, at + 1)) {
    const after = params.slice(at + PARAMETER_END.length).trimStart();
    if (after === '' || after.startsWith(QWEN3_CODER_PARAMETER)) return [at, at + PARAMETER_END.length];
  }
  const next = params.indexOf(`\n${QWEN3_CODER_PARAMETER}`, from);
  return next < 0 ? [params.length, params.length] : [next + 1, next + 1];
}

/** qwen3_coder's reader; `tools`: the request's, whose schemas type the arguments. */
export function qwen3CoderReader(tools: readonly ToolSchema[]): ToolReader {
  return new TaggedBlockReader({ section: null, open: QWEN_OPEN, close: QWEN_CLOSE, closer: qwenCloser, call: (body, closed) => qwenCall(body, closed, tools) });
}

export const DEEPSEEK_CALLS = '<｜tool▁calls▁begin｜>';
const DEEPSEEK_CALLS_END = '<｜tool▁calls▁end｜>';
const DEEPSEEK_CALL = '<｜tool▁call▁begin｜>';
const DEEPSEEK_CALL_END = '<｜tool▁call▁end｜>';
const DEEPSEEK_SEP = '<｜tool▁sep｜>';
/** What DeepSeek-V3's and R1's templates write around the arguments (V3.1's do not). */
export const DEEPSEEK_V3_FENCE = '```json';

/**
 * A DeepSeek call: v3 function<｜tool▁sep｜>NAME\n```json\nARGS\n``` (vLLM's
 * pattern, but the arguments may span lines), v31 NAME<｜tool▁sep｜>ARGS;
 * the arguments a JSON object.
 */
function deepSeekCall(body: string, v31: boolean): ToolCall | null {
  const t = body.trim();
  const sep = t.indexOf(DEEPSEEK_SEP);
  if (sep < 0) return null;
  const head = t.slice(0, sep).trim();
  const rest = t.slice(sep + DEEPSEEK_SEP.length);
  let name = head;
  let args = rest;
  if (!v31) {
    const m = /^([^\n]*)\n```json\n([\s\S]*)\n```$/.exec(rest);
    if (head !== 'function' || m === null) return null;
    name = m[1].trim();
    args = m[2];
  }
  return NAME.test(name) ? callFrom({ name, arguments: args }) : null;
}

/** deepseek_v3's reader, or (`v31`) deepseek_v31's. */
export function deepSeekReader(v31: boolean): ToolReader {
  return new TaggedBlockReader({
    section: { open: DEEPSEEK_CALLS, close: DEEPSEEK_CALLS_END },
    open: DEEPSEEK_CALL,
    close: DEEPSEEK_CALL_END,
    closer: firstOf(DEEPSEEK_CALL_END),
    call: (body) => deepSeekCall(body, v31),
  });
}
