// The tool-call parsers whose calls are tagged blocks with a syntax of their
// own inside (tool-parsers.ts picks and names them):
//   qwen3_coder   <tool_call>\n<function=NAME>\n<parameter=KEY>\nvalue\n
//                 </parameter>\n...</function>\n</tool_call>, one block per
//                 call, each value raw text typed by the tool's schema for
//                 it, as vLLM's qwen3coder_tool_parser (Qwen3-Coder, and the
//                 Qwen3.5 / Qwen3-Next templates that write the same);
//   deepseek_v3   <｜tool▁calls▁begin｜>, then per call <｜tool▁call▁begin｜>
//                 function<｜tool▁sep｜>NAME\n```json\n{...}\n```
//                 <｜tool▁call▁end｜>, then <｜tool▁calls▁end｜> (DeepSeek-V3, R1);
//   deepseek_v31  the same section, each call NAME<｜tool▁sep｜>{...}
//                 (DeepSeek-V3.1).
// Read as hermes reads its blocks: text before the calls is content, sent
// as it comes (only a tail that may open them held back); each call is sent
// whole when its block closes; whitespace between and after calls is
// dropped, other text after them is content; a block that is not a call
// stays text, markers and all; a block left open at the end is a call if
// what it holds is complete.

import { isRecord } from '../is-record.js';
import { partialTagAt } from './partial-tag.js';
import { PythonCalls } from './python-calls.js';
import { callFrom, newCallId, parseJson, type ToolCall, type ToolRead, type ToolReader, type ToolSchema } from './tool-call.js';

/** How one syntax marks its calls. */
interface BlockSyntax {
  /** Markers around all the calls (DeepSeek's); null: each block stands alone (Qwen's). */
  section: { open: string; close: string } | null;
  open: string;
  close: string;
  /** Where the open block (the text after `open`) closes: the index of its `close`, or -1 while it has not. */
  closeAt(block: string): number;
  /** The call a block's body is; null: it is not one (and stays text). */
  call(body: string): ToolCall | null;
}

class TaggedBlockReader implements ToolReader {
  private buf = '';
  private where: 'text' | 'section' | 'block' = 'text';
  private called = false;
  /** Whitespace after a call, held until text shows it is not only a separator. */
  private gap = '';
  /** The section read so far (its opening marker, whitespace) while none of its blocks was a call: text unless one is. */
  private opening = '';
  private sectionCalled = false;

  constructor(private readonly s: BlockSyntax) {}

  push(text: string): ToolRead {
    this.buf += text;
    const out: ToolRead = { content: '', calls: [] };
    while (this.step(out));
    return out;
  }

  end(): ToolRead {
    const out: ToolRead = { content: '', calls: [] };
    if (this.where === 'block') this.block(this.buf, '', out);
    else if (this.where === 'section' && !this.sectionCalled) out.content += this.opening + this.buf;
    else this.text(this.buf, out);
    this.buf = '';
    this.gap = '';
    this.opening = '';
    this.where = 'text';
    return out;
  }

  /** Reads on through the held text; false when it needs more. */
  private step(out: ToolRead): boolean {
    const { section, open, close } = this.s;
    if (this.where === 'block') {
      const at = this.s.closeAt(this.buf);
      if (at < 0) return false;
      this.block(this.buf.slice(0, at), close, out);
      this.buf = this.buf.slice(at + close.length);
      this.where = section === null ? 'text' : 'section';
      return true;
    }
    if (this.where === 'section' && section !== null) {
      const rest = this.buf.trimStart();
      const opens = rest.startsWith(open);
      if (opens || rest.startsWith(section.close)) {
        if (!this.sectionCalled) this.opening += this.buf.slice(0, this.buf.length - rest.length);
        if (opens) {
          this.buf = rest.slice(open.length);
          this.where = 'block';
          return true;
        }
        // A section none of whose blocks was a call is text, markers and all.
        if (!this.sectionCalled) out.content += this.opening + section.close;
        this.opening = '';
        this.buf = rest.slice(section.close.length);
        this.where = 'text';
        return true;
      }
      // What may yet be a marker waits; anything else ends the section, as text.
      if (rest === '' || open.startsWith(rest) || section.close.startsWith(rest)) return false;
      out.content += this.opening;
      this.opening = '';
      this.where = 'text';
      return true;
    }
    const marker = section?.open ?? open;
    const at = this.buf.indexOf(marker);
    if (at < 0) {
      const keep = partialTagAt(this.buf, marker);
      this.text(this.buf.slice(0, this.buf.length - keep), out);
      this.buf = this.buf.slice(this.buf.length - keep);
      return false;
    }
    this.text(this.buf.slice(0, at), out);
    this.gap = '';
    this.buf = this.buf.slice(at + marker.length);
    this.where = section === null ? 'block' : 'section';
    this.opening = section === null ? '' : marker;
    this.sectionCalled = false;
    return true;
  }

  private text(t: string, out: ToolRead): void {
    if (!this.called) {
      out.content += t;
      return;
    }
    // After a call, whitespace is the blocks' separator, not an answer:
    // it is held, and dropped unless other text follows it.
    const all = this.gap + t;
    if (all.trim() === '') {
      this.gap = all;
      return;
    }
    out.content += all;
    this.gap = '';
  }

  /** A block's body (`close`: its closing marker, '' if the output ended inside it). */
  private block(body: string, close: string, out: ToolRead): void {
    const call = this.s.call(body);
    if (call === null) {
      out.content += this.opening + this.s.open + body + close;
    } else {
      out.calls.push(call);
      this.called = true;
      this.sectionCalled = true;
    }
    this.opening = '';
  }
}

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
 * </function> (a value, code say, may hold a </tool_call> of its own), or
 * at the first one if the block is not a <function=...> (and so text).
 */
function qwenCloseAt(block: string): number {
  for (let at = block.indexOf(QWEN_CLOSE); at >= 0; at = block.indexOf(QWEN_CLOSE, at + 1)) {
    const body = block.slice(0, at);
    if (!body.trimStart().startsWith(QWEN3_CODER_FUNCTION) || body.trimEnd().endsWith(FUNCTION_END)) return at;
  }
  return -1;
}

/** <function=NAME> ... </function>, each argument typed by the tool's schema; null if the body is not that. */
function qwenCall(body: string, tools: readonly ToolSchema[]): ToolCall | null {
  const t = body.trim();
  if (!t.startsWith(QWEN3_CODER_FUNCTION) || !t.endsWith(FUNCTION_END)) return null;
  const inner = t.slice(0, t.length - FUNCTION_END.length);
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
    args.set(key, typed(value, Object.hasOwn(props, key) ? props[key] : undefined));
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

const STRING_TYPES = ['string', 'str', 'text', 'varchar', 'char', 'enum'];

/**
 * A raw value as the parameter's JSON-schema type has it, vLLM's
 * _convert_param_value rule for rule: a parameter the tool does not list,
 * or one without a type, stays a string; the type is the schema's "type"
 * (or anyOf's first that is not "null"); null/None is null where the
 * schema allows null, and for every type but a string one; integers and
 * numbers parse (a number with no fraction is an integer) or stay the
 * string; a boolean is true for "true" (any case), else false; an object
 * or array is JSON, else a Python literal, else the string, and any other
 * type (a list of types among them, whose Python text names none) a
 * Python literal or the string.
 */
function typed(value: string, schema: unknown): unknown {
  if (schema === undefined) return value;
  let type = 'string';
  let nullable = false;
  if (isRecord(schema) && 'type' in schema) {
    type = typeName(schema.type);
    nullable = type === 'null';
  } else if (isRecord(schema) && Array.isArray(schema.anyOf)) {
    let picked = false;
    for (const option of schema.anyOf as unknown[]) {
      if (!isRecord(option) || !('type' in option)) continue;
      const t = typeName(option.type);
      if (t === 'null') nullable = true;
      else if (!picked) {
        type = t;
        picked = true;
      }
    }
  }
  const lower = value.toLowerCase();
  const isNull = lower === 'null' || lower === 'none';
  if (nullable && isNull) return null;
  if (STRING_TYPES.includes(type)) return value;
  if (isNull) return null;
  if (/^(?:int|uint|long|short|unsigned)/.test(type)) return /^[+-]?\d+(?:_\d+)*$/.test(value.trim()) ? Number(value.trim().replace(/_/g, '')) : value;
  if (/^(?:num|float)/.test(type)) {
    const n = /^[+-]?(?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+(?:_\d+)*)?$/.test(value.trim()) ? Number(value.trim().replace(/_/g, '')) : NaN;
    // Infinity and NaN have no JSON: the string (vLLM too keeps "nan"; "inf" fails its whole output).
    return Number.isFinite(n) ? n : value;
  }
  if (type === 'boolean' || type === 'bool' || type === 'binary') return lower === 'true';
  const container = type === 'object' || type === 'array' || type === 'arr' || type.startsWith('dict') || type.startsWith('list');
  if (container) {
    const parsed = parseJson(value);
    // JSON text of a Python repr ("{'k': 'v'}", from a template that wrote str(dict)) is read once more.
    if (parsed !== undefined) return typeof parsed === 'string' ? literalOr(parsed) : parsed;
  }
  const lit = PythonCalls.literal(value);
  if (lit === null) return value;
  return container && typeof lit.value === 'string' ? literalOr(lit.value) : lit.value;
}

/** A schema's "type" as vLLM compares it: its Python text, trimmed and lower-cased (a list's text names no type). */
function typeName(t: unknown): string {
  return (typeof t === 'string' ? t : JSON.stringify(t)).trim().toLowerCase();
}

/** `text` as a Python literal, or itself. */
function literalOr(text: string): unknown {
  const lit = PythonCalls.literal(text);
  return lit === null ? text : lit.value;
}

/** qwen3_coder's reader; `tools`: the request's, whose schemas type the arguments. */
export function qwen3CoderReader(tools: readonly ToolSchema[]): ToolReader {
  return new TaggedBlockReader({ section: null, open: QWEN_OPEN, close: QWEN_CLOSE, closeAt: qwenCloseAt, call: (body) => qwenCall(body, tools) });
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
    closeAt: (block) => block.indexOf(DEEPSEEK_CALL_END),
    call: (body) => deepSeekCall(body, v31),
  });
}
