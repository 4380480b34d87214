// Request bodies as TypeBox schemas. Types are checked here (wrong type ->
// 400); ranges and cross-field rules are checked in sampling.ts, where the
// messages can say what is valid. Unknown fields pass, as with OpenAI.

import { Type, type Static } from 'typebox';

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));

const Stop = Type.Union([Type.String(), Type.Array(Type.String())]);

/** Fields shared by /v1/completions and /v1/chat/completions (vLLM's extra sampling fields included). */
const sampling = {
  model: Nullable(Type.String()),
  max_tokens: Nullable(Type.Integer()),
  temperature: Nullable(Type.Number()),
  top_p: Nullable(Type.Number()),
  top_k: Nullable(Type.Integer()),
  min_p: Nullable(Type.Number()),
  n: Nullable(Type.Integer()),
  stream: Nullable(Type.Boolean()),
  // continuous_usage_stats (vLLM's): every chunk carries the usage so far.
  stream_options: Nullable(Type.Object({ include_usage: Nullable(Type.Boolean()), continuous_usage_stats: Nullable(Type.Boolean()) })),
  stop: Nullable(Stop),
  stop_token_ids: Nullable(Type.Array(Type.Integer())),
  seed: Nullable(Type.Integer()),
  presence_penalty: Nullable(Type.Number()),
  frequency_penalty: Nullable(Type.Number()),
  repetition_penalty: Nullable(Type.Number()),
  ignore_eos: Nullable(Type.Boolean()),
  min_tokens: Nullable(Type.Integer()),
  skip_special_tokens: Nullable(Type.Boolean()),
  include_stop_str_in_output: Nullable(Type.Boolean()),
  priority: Nullable(Type.Integer()),
  user: Nullable(Type.String()),
  // vLLM's extension: logprobs of the prompt's tokens (not with stream, as vLLM).
  prompt_logprobs: Nullable(Type.Integer()),
  // vLLM's: keep only the prompt's last N tokens (-1: the last max-model-len).
  truncate_prompt_tokens: Nullable(Type.Integer()),
  // vLLM's: only these token ids may be sampled.
  allowed_token_ids: Nullable(Type.Array(Type.Integer())),
  // vLLM's: words the output may not contain.
  bad_words: Nullable(Type.Array(Type.String())),
  // vLLM's: at most N tokens inside the first <think> block, then </think> is forced.
  thinking_token_budget: Nullable(Type.Integer()),
  // vLLM's: logprob tokens written as "token_id:N".
  return_tokens_as_token_ids: Nullable(Type.Boolean()),
  // Keys are token ids as strings (JSON objects have no other); checked in sampling.ts.
  logit_bias: Nullable(Type.Record(Type.String(), Type.Number())),
  // Typed loosely here, checked in output-format.ts (whose messages say what is valid).
  response_format: Type.Optional(Type.Unknown()),
  guided_json: Type.Optional(Type.Unknown()),
  guided_choice: Type.Optional(Type.Unknown()),
  guided_grammar: Type.Optional(Type.Unknown()),
  guided_regex: Type.Optional(Type.Unknown()),
  structured_outputs: Type.Optional(Type.Unknown()),
  // llama.cpp's server's: a GBNF grammar, a JSON schema.
  grammar: Type.Optional(Type.Unknown()),
  json_schema: Type.Optional(Type.Unknown()),
};

export const CompletionBody = Type.Object({
  ...sampling,
  // Fill-in-the-middle: the text after the gap (src/server/fim.ts).
  suffix: Nullable(Type.String()),
  prompt: Type.Union([Type.String(), Type.Array(Type.String()), Type.Array(Type.Integer()), Type.Array(Type.Array(Type.Integer()))]),
  echo: Nullable(Type.Boolean()),
  logprobs: Nullable(Type.Integer()),
});
export type CompletionBody = Static<typeof CompletionBody>;

const ContentPart = Type.Object({ type: Type.String(), text: Type.Optional(Type.String()) });

export const ChatMessageSchema = Type.Object({
  role: Type.String(),
  content: Type.Optional(Type.Union([Type.String(), Type.Null(), Type.Array(ContentPart)])),
  name: Type.Optional(Type.String()),
  // An assistant's calls and a tool's result (chat-template.ts checks them).
  tool_calls: Type.Optional(Type.Unknown()),
  tool_call_id: Type.Optional(Type.Unknown()),
  reasoning_content: Type.Optional(Type.Unknown()),
});

export const ChatBody = Type.Object({
  ...sampling,
  messages: Type.Array(ChatMessageSchema),
  max_completion_tokens: Nullable(Type.Integer()),
  logprobs: Nullable(Type.Boolean()),
  top_logprobs: Nullable(Type.Integer()),
  add_generation_prompt: Nullable(Type.Boolean()),
  continue_final_message: Nullable(Type.Boolean()),
  chat_template_kwargs: Nullable(Type.Record(Type.String(), Type.Unknown())),
  tools: Type.Optional(Type.Unknown()),
  tool_choice: Type.Optional(Type.Unknown()),
  parallel_tool_calls: Nullable(Type.Boolean()),
  functions: Type.Optional(Type.Unknown()),
  function_call: Type.Optional(Type.Unknown()),
});
export type ChatBody = Static<typeof ChatBody>;

export const TokenizeBody = Type.Object({
  model: Nullable(Type.String()),
  prompt: Type.Optional(Type.String()),
  // llama.cpp's names for the text and the switch.
  content: Type.Optional(Type.String()),
  add_special: Nullable(Type.Boolean()),
  messages: Type.Optional(Type.Array(ChatMessageSchema)),
  add_special_tokens: Nullable(Type.Boolean()),
  add_generation_prompt: Nullable(Type.Boolean()),
  continue_final_message: Nullable(Type.Boolean()),
  chat_template_kwargs: Nullable(Type.Record(Type.String(), Type.Unknown())),
  tools: Type.Optional(Type.Unknown()),
  tool_choice: Type.Optional(Type.Unknown()),
});
export type TokenizeBody = Static<typeof TokenizeBody>;

export const DetokenizeBody = Type.Object({
  model: Nullable(Type.String()),
  tokens: Type.Array(Type.Integer()),
});
export type DetokenizeBody = Static<typeof DetokenizeBody>;

/** The sampling fields /v1/responses takes besides OpenAI's (vLLM's extras, typed as on chat). */
export const RESPONSES_SAMPLING = [
  'temperature',
  'top_p',
  'top_k',
  'min_p',
  'seed',
  'stop',
  'stop_token_ids',
  'presence_penalty',
  'frequency_penalty',
  'repetition_penalty',
  'ignore_eos',
  'min_tokens',
  'skip_special_tokens',
  'include_stop_str_in_output',
  'priority',
  'logit_bias',
  'allowed_token_ids',
  'thinking_token_budget',
  'bad_words',
] as const;

/** POST /v1/responses: OpenAI's fields and vLLM's extra sampling fields; the items are checked in responses-input.ts. */
export const ResponsesBody = Type.Object({
  ...(Object.fromEntries(RESPONSES_SAMPLING.map((k) => [k, sampling[k]])) as Pick<typeof sampling, (typeof RESPONSES_SAMPLING)[number]>),
  model: Nullable(Type.String()),
  input: Type.Union([Type.String(), Type.Array(Type.Unknown())]),
  instructions: Nullable(Type.String()),
  max_output_tokens: Nullable(Type.Integer()),
  user: sampling.user,
  stream: sampling.stream,
  top_logprobs: Nullable(Type.Integer()),
  include: Type.Optional(Type.Unknown()),
  tools: Type.Optional(Type.Unknown()),
  tool_choice: Type.Optional(Type.Unknown()),
  parallel_tool_calls: Nullable(Type.Boolean()),
  text: Type.Optional(Type.Unknown()),
  reasoning: Type.Optional(Type.Unknown()),
  metadata: Nullable(Type.Record(Type.String(), Type.String())),
  background: Nullable(Type.Boolean()),
  store: Nullable(Type.Boolean()),
  previous_response_id: Nullable(Type.String()),
});
export type ResponsesBody = Static<typeof ResponsesBody>;

/** What makes the prompt of an Anthropic Messages request (the request and count_tokens). */
const anthropicPrompt = {
  model: Nullable(Type.String()),
  messages: Type.Array(Type.Unknown()),
  system: Type.Optional(Type.Unknown()),
  tools: Type.Optional(Type.Unknown()),
  tool_choice: Type.Optional(Type.Unknown()),
  thinking: Type.Optional(Type.Unknown()),
};

/** POST /v1/messages (Anthropic's Messages API); blocks and tools are checked in messages-input.ts. */
export const MessagesBody = Type.Object({
  ...anthropicPrompt,
  max_tokens: Type.Integer(),
  stop_sequences: Nullable(Type.Array(Type.String())),
  stream: sampling.stream,
  temperature: sampling.temperature,
  top_p: sampling.top_p,
  top_k: sampling.top_k,
  output_config: Type.Optional(Type.Unknown()),
  metadata: Type.Optional(Type.Unknown()),
});
export type MessagesBody = Static<typeof MessagesBody>;

/** POST /v1/messages/count_tokens: the prompt's parts of a Messages request. */
export const CountTokensBody = Type.Object(anthropicPrompt);
export type CountTokensBody = Static<typeof CountTokensBody>;

/**
 * POST /v1/embeddings: OpenAI's EmbeddingRequest and vLLM's extras; vLLM's
 * chat form takes `messages` instead of `input` (routes/embeddings.ts
 * checks that exactly one is given, and the items).
 */
export const EmbeddingBody = Type.Object({
  model: Nullable(Type.String()),
  input: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String()), Type.Array(Type.Integer()), Type.Array(Type.Array(Type.Integer()))])),
  messages: Type.Optional(Type.Array(ChatMessageSchema)),
  // Checked in the route, whose message names the two formats.
  encoding_format: Nullable(Type.String()),
  dimensions: Nullable(Type.Integer()),
  user: sampling.user,
  truncate_prompt_tokens: sampling.truncate_prompt_tokens,
  add_special_tokens: Nullable(Type.Boolean()),
  normalize: Nullable(Type.Boolean()),
  priority: sampling.priority,
  add_generation_prompt: Nullable(Type.Boolean()),
  continue_final_message: Nullable(Type.Boolean()),
  chat_template_kwargs: Nullable(Type.Record(Type.String(), Type.Unknown())),
});
export type EmbeddingBody = Static<typeof EmbeddingBody>;

const ScoreTexts = Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())]));

/**
 * POST /score and /v1/score (vLLM's ScoreRequest): the two sides as
 * text_1/text_2, or current vLLM's data_1/data_2, queries/documents or
 * queries/items (routes/score.ts takes exactly one pair, and pairs them).
 */
export const ScoreBody = Type.Object({
  model: Nullable(Type.String()),
  text_1: ScoreTexts,
  text_2: ScoreTexts,
  data_1: ScoreTexts,
  data_2: ScoreTexts,
  queries: ScoreTexts,
  documents: ScoreTexts,
  items: ScoreTexts,
  truncate_prompt_tokens: sampling.truncate_prompt_tokens,
  priority: sampling.priority,
});
export type ScoreBody = Static<typeof ScoreBody>;

/** POST /rerank, /v1/rerank, /v2/rerank (Jina's and Cohere's API as vLLM serves it; text documents only). */
export const RerankBody = Type.Object({
  model: Nullable(Type.String()),
  query: Type.String(),
  documents: Type.Union([Type.String(), Type.Array(Type.String())]),
  // vLLM's: 0 (its default) or less returns every document.
  top_n: Nullable(Type.Integer()),
  // Cohere's; vLLM returns every document's text whatever it says.
  return_documents: Nullable(Type.Boolean()),
  truncate_prompt_tokens: sampling.truncate_prompt_tokens,
  priority: sampling.priority,
});
export type RerankBody = Static<typeof RerankBody>;
