// A chat choice's text as the chat API returns it: the thoughts apart
// (reasoning.ts, when a reasoning parser is on), then the answer's tool
// calls read out (tool-parsers.ts, for tool_choice "auto"), the rest
// content. A stream pushes each delta's text; a whole response pushes all
// of it once; both end(), so they read the same text the same way.

import { ReasoningReader } from './reasoning.js';
import { toolReader, type ToolCall, type ToolParserName, type ToolReader, type ToolSchema } from './tool-parsers.js';
import { guidedToolCalls, type GuidedToolMode } from './tools.js';

export interface ChatRead {
  reasoning: string;
  content: string;
  calls: ToolCall[];
}

export interface ChatReadOptions {
  /** Split off <think> thoughts; `openedByPrompt`: the rendered prompt left a block open. */
  reasoning: { openedByPrompt: boolean } | null;
  /** Read tool calls from the answer (tool_choice "auto"). */
  tools: ToolParserName | null;
  /** The request's tools, for a parser that reads arguments by their schemas (qwen3_coder). */
  toolSchemas?: readonly ToolSchema[];
  /** parallel_tool_calls false: calls after the first are dropped (as vLLM; the model is not stopped). */
  oneCall?: boolean;
}

export class ChatChoiceReader {
  private readonly thoughts: ReasoningReader | null;
  private readonly tools: ToolReader | null;
  private readonly maxCalls: number;
  /** Calls read so far: the next one's index in the stream. */
  numCalls = 0;

  constructor(o: ChatReadOptions) {
    this.maxCalls = o.oneCall === true ? 1 : Infinity;
    this.thoughts = o.reasoning === null ? null : new ReasoningReader(o.reasoning.openedByPrompt);
    this.tools = o.tools === null ? null : toolReader(o.tools, o.toolSchemas);
  }

  push(text: string): ChatRead {
    const split = this.thoughts === null ? { reasoning: '', content: text } : this.thoughts.push(text);
    return this.answer(split.reasoning, split.content, false);
  }

  end(): ChatRead {
    const split = this.thoughts === null ? { reasoning: '', content: '' } : this.thoughts.end();
    return this.answer(split.reasoning, split.content, true);
  }

  /** push(text) and, when the choice is done (`final`), end(), as one read. */
  read(text: string, final: boolean): ChatRead {
    const a = this.push(text);
    if (!final) return a;
    const b = this.end();
    return { reasoning: a.reasoning + b.reasoning, content: a.content + b.content, calls: [...a.calls, ...b.calls] };
  }

  private answer(reasoning: string, content: string, end: boolean): ChatRead {
    if (this.tools === null) return { reasoning, content, calls: [] };
    const read = content === '' ? { content: '', calls: [] } : this.tools.push(content);
    if (end) {
      const last = this.tools.end();
      read.content += last.content;
      read.calls.push(...last.calls);
    }
    const calls = read.calls.slice(0, Math.max(0, this.maxCalls - this.numCalls));
    this.numCalls += calls.length;
    return { reasoning, content: read.content, calls };
  }
}

/**
 * One choice's output as every chat-shaped route reads it (chat, the
 * Responses API, the Messages API): thoughts and "auto" calls by the
 * parsers (`how`; null: the text is content), and for a named or
 * "required" call (`guided`) the answer held to the choice's end and read
 * as its calls then, the logprobs of what is held held with it.
 */
export class ChoiceOutputReader<L = never> {
  private readonly reader: ChatChoiceReader | null;
  private held = '';
  private heldLogprobs: L[] = [];
  /** Calls read so far: the next one's index in a stream. */
  numCalls = 0;

  constructor(
    how: ChatReadOptions | null,
    private readonly guided: GuidedToolMode | null,
  ) {
    this.reader = how === null ? null : new ChatChoiceReader(how);
  }

  /** One piece of text (the choice's last when `final`) and its tokens' logprobs: what it gives now. */
  read(text: string, final: boolean, logprobs: readonly L[] = []): { read: ChatRead; logprobs: L[] } {
    const read = this.reader !== null ? this.reader.read(text, final) : { reasoning: '', content: text, calls: [] };
    let lps = [...logprobs];
    if (this.guided !== null) {
      this.held += read.content;
      this.heldLogprobs.push(...lps);
      read.content = '';
      lps = [];
      if (final) {
        const calls = guidedToolCalls(this.guided, this.held);
        if (calls !== null) read.calls = calls;
        else read.content = this.held;
        lps = this.heldLogprobs;
      }
    }
    this.numCalls += read.calls.length;
    return { read, logprobs: lps };
  }
}

/**
 * A whole choice's text read at once (`guided`: a named or "required"
 * call's); content null when the model only called tools (as OpenAI),
 * reasoning null when it did not think.
 */
export function readChatText(o: ChatReadOptions | null, text: string, guided: GuidedToolMode | null = null): { reasoning: string | null; content: string | null; calls: ToolCall[] } {
  const { reasoning, content, calls } = new ChoiceOutputReader(o, guided).read(text, true).read;
  return { reasoning: o?.reasoning != null && reasoning !== '' ? reasoning : null, content: calls.length > 0 && content === '' ? null : content, calls };
}
