// A chat choice's text as the chat API returns it: the thoughts apart
// (reasoning.ts, when a reasoning parser is on), then the answer's tool
// calls read out (tool-parsers.ts, for tool_choice "auto"), the rest
// content. A stream pushes each delta's text; a whole response pushes all
// of it once; both end(), so they read the same text the same way.

import { ReasoningReader } from './reasoning.js';
import { toolReader, type ToolCall, type ToolParserName, type ToolReader } from './tool-parsers.js';

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
    this.tools = o.tools === null ? null : toolReader(o.tools);
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

/** A whole choice's text read at once; content null when the model only called tools (as OpenAI), reasoning null when it did not think. */
export function readChatText(o: ChatReadOptions, text: string): { reasoning: string | null; content: string | null; calls: ToolCall[] } {
  const { reasoning, content, calls } = new ChatChoiceReader(o).read(text, true);
  return { reasoning: o.reasoning !== null && reasoning !== '' ? reasoning : null, content: calls.length > 0 && content === '' ? null : content, calls };
}
