// What /v1/chat/completions and /v1/responses share: a chat rendered
// through the template (the tools given to it), the prompt checked, the
// output held to a grammar (response_format, a named or "required" tool
// call) or read by the parsers (thoughts, "auto" tool calls), and the run
// started. Each route then writes the outputs in its own API's shapes.

import type { ChatMessage, SamplingParams, TokenGuide } from '../engine/types.js';
import { afterThinking } from '../guided/after-thinking.js';
import type { FastifyReply } from 'fastify';
import type { ChatReadOptions } from './chat-output.js';
import { renderChat, type ChatEnding } from './chat-template.js';
import { admit, type ServerContext } from './context.js';
import { badRequest } from './errors.js';
import { RouteRun } from './outcome.js';
import type { OutputFormat } from './output-format.js';
import { checkTokenIds, resolveMaxTokens, truncatePrompt } from './prompt.js';
import { promptOpensThinking, thinkingTokenIds } from './reasoning.js';
import type { GuidedToolMode, ToolPlan } from './tools.js';

export interface ChatRequest {
  /** The engine request id. */
  id: string;
  messages: ChatMessage[];
  ending: ChatEnding;
  /** chat_template_kwargs; the tools are added when one is to be called (vLLM's default). */
  templateKwargs: Record<string, unknown> | null;
  plan: ToolPlan | null;
  /** tool_choice as the client sent it, for the error that names it. */
  toolChoice: unknown;
  /** response_format (or its equivalents): not with a tool plan. */
  asked: OutputFormat | null;
  params: Omit<SamplingParams, 'maxTokens'>;
  /** The client's limit on new tokens; null: the context's room. */
  maxTokens: number | null;
  /** vLLM's truncate_prompt_tokens. */
  truncate: number | null | undefined;
  /** parallel_tool_calls false: calls after the first are dropped. */
  oneCall: boolean;
  /** The request named skip_special_tokens (else a tool-call parser decodes them). */
  skipSpecialTokensGiven: boolean;
  /** The field the prompt's errors name. */
  promptParam: string;
}

export interface ChatRun {
  run: RouteRun;
  /** False: the client left before submission; the reply is dropped. */
  started: boolean;
  /** How each choice's text is read (thoughts apart, "auto" calls); null: the text is the content (or a guided call's). */
  how: ChatReadOptions | null;
  /** A named or "required" call held to a grammar: the answer (after any thoughts) is its calls. */
  guided: GuidedToolMode | null;
}

/**
 * Admits the request (429 when the queue is full), arms its abort, renders
 * and submits it. Errors before submission are thrown (400s naming fields).
 */
export async function startChat(ctx: ServerContext, reply: FastifyReply, req: ChatRequest): Promise<ChatRun> {
  const { engine } = ctx;
  const { plan, asked, params } = req;
  if (plan !== null && asked !== null) throw badRequest(`tool_choice ${JSON.stringify(req.toolChoice ?? 'auto')} cannot be combined with ${asked.field}.`, asked.field);
  // Named and "required" are held to a grammar; with "auto" the model
  // writes freely and its calls are read out of its text by a parser.
  const guided = plan !== null && plan.mode.kind !== 'auto' ? plan.mode : null;
  const parser = plan !== null && plan.mode.kind === 'auto' ? plan.mode.parser : null;
  const format = guided !== null ? { spec: guided.spec, field: 'tool_choice' } : asked;
  // As vLLM's parsers: the markers are special tokens in some
  // vocabularies ([TOOL_CALLS], <|python_tag|>, Hermes 2 Pro's
  // <tool_call>), which decoding would otherwise drop.
  if (parser !== null && !req.skipSpecialTokensGiven) params.skipSpecialTokens = false;
  admit(ctx, params.n, 'n');

  // Armed before the template and tokenizing (an await): a client gone meanwhile is seen.
  const run = new RouteRun(ctx, reply, params.n);
  // Under a grammar (response_format, a named or "required" tool call) the
  // thoughts are read apart only where a guide can wait for </think>
  // (thinkIds: both tags one token each); the grammar then holds the
  // answer after them (afterThinking), as vLLM does under a reasoning parser.
  const thinkIds = ctx.reasoningParser !== null ? thinkingTokenIds(engine.tokenizer) : null;
  const thinks = ctx.reasoningParser !== null && (format === null || thinkIds !== null);
  // Set by prepare (an object: a plain let would stay narrowed to null here).
  const reading: { how: ChatReadOptions | null } = { how: null };
  const started = await run.start(async () => {
    const kwargs = req.templateKwargs ?? {};
    const extra = plan !== null ? { ...kwargs, tools: plan.tools } : req.templateKwargs ?? undefined;
    const rendered = await renderChat(engine, ctx.encoder, req.messages, req.ending, extra);
    const ids = truncatePrompt(rendered.ids, req.truncate, engine.model.maxModelLen);
    checkTokenIds(ids, engine.model.vocabSize, req.promptParam);
    const opened = promptOpensThinking(rendered.text);
    if (thinks || parser !== null) {
      const toolSchemas = plan === null ? [] : plan.tools.map((x) => x.function);
      reading.how = { reasoning: thinks ? { openedByPrompt: opened } : null, tools: parser, toolSchemas, oneCall: req.oneCall };
    }
    const wrapGuide = format !== null && thinkIds !== null ? (g: TokenGuide) => afterThinking(g, { ...thinkIds, opened }) : undefined;
    return { prompts: [ids], maxTokens: resolveMaxTokens(ids.length, req.maxTokens, engine.model.maxModelLen, engine.model.samplingDefaults?.maxTokens ?? null), ...(wrapGuide !== undefined ? { wrapGuide } : {}) };
  }, params, req.id, format);
  return { run, started, how: reading.how, guided };
}
