// POST /v1/messages (Anthropic's Messages API) on the real engine and the
// Qwen3 fixture, through Anthropic's official SDK: the chat route's tokens
// for the same conversation, whole and streamed (the SDK's raw events and
// its stream helper), tool_use and tool_result blocks, a forced tool,
// prefill of a last assistant message, stop sequences, count_tokens,
// x-api-key, and errors in Anthropic's shape.
import t from 'tap';
import Anthropic from '@anthropic-ai/sdk';
import { postJson, startLive, noEos } from './helpers.js';

type Live = Awaited<ReturnType<typeof startLive>>;
// vLLM's extra field ignore_eos and top_k pass through a cast.
type Params = Anthropic.Messages.MessageCreateParamsNonStreaming;

const WEATHER = { type: 'object' as const, properties: { city: { enum: ['Paris', 'Oslo'] } }, required: ['city'], additionalProperties: false };
const tools: Anthropic.Messages.Tool[] = [{ name: 'get_weather', description: 'The weather of a city', input_schema: WEATHER }];

let live: Live;
let client: Anthropic;
t.before(async () => {
  live = await startLive({ arch: 'qwen3', engine: { maxModelLen: 1024 }, config: { reasoningParser: 'none', apiKeys: ['sk-test'] } });
  client = new Anthropic({ baseURL: live.url, apiKey: 'sk-test', maxRetries: 0 });
});
t.teardown(() => live.close());

const textOf = (m: Anthropic.Messages.Message): string => m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');

t.test('a message: the chat route\'s text for the same conversation, whole and streamed', async (t) => {
  const params = { model: live.model, max_tokens: 10, system: 'Be brief.', messages: [{ role: 'user' as const, content: 'Tell me a story' }], temperature: 0, ...noEos };
  const m = await client.messages.create(params as Params);
  const chat = await live.clientWith('sk-test').chat.completions.create({
    model: live.model,
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Tell me a story' }],
    max_completion_tokens: 10,
    temperature: 0,
    ...noEos,
  });
  t.match(m.id, /^msg_[0-9a-f]{24}$/);
  t.equal(m.type, 'message');
  t.equal(m.role, 'assistant');
  t.equal(m.model, live.model);
  t.equal(m.stop_reason, 'max_tokens');
  t.equal(m.stop_sequence, null);
  t.equal(textOf(m), chat.choices[0].message.content);
  t.equal(m.usage.output_tokens, 10);
  t.equal(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0), chat.usage?.prompt_tokens, 'input plus cache read is the prompt');

  const events: Anthropic.Messages.RawMessageStreamEvent[] = [];
  const stream = await client.messages.create({ ...params, stream: true } as unknown as Anthropic.Messages.MessageCreateParamsStreaming);
  for await (const e of stream) events.push(e);
  const types = events.map((e) => e.type);
  t.same(types.slice(0, 2), ['message_start', 'content_block_start']);
  t.same(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  const text = events.flatMap((e) => (e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? [e.delta.text] : [])).join('');
  t.equal(text, textOf(m), 'the deltas make the whole message\'s text');
  const delta = events.find((e) => e.type === 'message_delta');
  t.equal(delta?.type === 'message_delta' ? delta.delta.stop_reason : null, 'max_tokens');
  t.equal(delta?.type === 'message_delta' ? delta.usage.output_tokens : null, 10);

  const final = await client.messages.stream(params).finalMessage();
  t.equal(textOf(final), textOf(m), 'the SDK\'s stream helper builds the same message');
  t.equal(final.stop_reason, 'max_tokens');
});

t.test('tools: a forced tool and "any" by grammar; tool_use and tool_result blocks reach the template as chat\'s', async (t) => {
  const forced = await client.messages.create({ model: live.model, max_tokens: 60, messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: { type: 'tool', name: 'get_weather' } });
  t.equal(forced.content.length, 1);
  const use = forced.content[0];
  if (use.type !== 'tool_use') throw new Error('no tool_use');
  t.equal(use.name, 'get_weather');
  t.match(use.id, /^toolu_[0-9a-f]{24}$/);
  t.ok(['Paris', 'Oslo'].includes((use.input as { city: string }).city));
  t.equal(forced.stop_reason, 'tool_use');

  const streamed = await client.messages.stream({ model: live.model, max_tokens: 60, messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: { type: 'any', disable_parallel_tool_use: true } }).finalMessage();
  const u = streamed.content.find((b): b is Anthropic.Messages.ToolUseBlock => b.type === 'tool_use');
  t.ok(u !== undefined && ['Paris', 'Oslo'].includes((u.input as { city: string }).city), 'streamed: the SDK rebuilds the tool input from input_json_delta');
  t.equal(streamed.stop_reason, 'tool_use');

  // A whole exchange back: the same prompt as chat's tool_calls and tool message.
  const history: Anthropic.Messages.MessageParam[] = [
    { role: 'user', content: 'Weather in Oslo?' },
    { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }] },
  ];
  const m = await client.messages.create({ model: live.model, max_tokens: 4, messages: history, tools, tool_choice: { type: 'none' }, temperature: 0, ...noEos } as Params);
  const chat = await live.clientWith('sk-test').chat.completions.create({
    model: live.model,
    messages: [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny' },
    ],
    max_completion_tokens: 4,
    temperature: 0,
    ...noEos,
  });
  t.equal(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0), chat.usage?.prompt_tokens, 'the same rendered prompt');
  t.equal(textOf(m), chat.choices[0].message.content);

  const counted = await client.messages.countTokens({ model: live.model, messages: history, tools });
  const withTools = await live.clientWith('sk-test').chat.completions.create({ model: live.model, messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools: [{ type: 'function', function: { name: 'get_weather', description: 'The weather of a city', parameters: WEATHER } }], tool_choice: 'none', max_completion_tokens: 1 });
  t.ok(counted.input_tokens > (withTools.usage?.prompt_tokens ?? 0) - 10, `count_tokens counts the conversation and the tools (${counted.input_tokens})`);
  const plain = await client.messages.countTokens({ model: live.model, messages: [{ role: 'user', content: 'Weather in Oslo?' }] });
  t.ok(plain.input_tokens < counted.input_tokens);
});

t.test('output_config.format (structured outputs) holds the text to the schema', async (t) => {
  const m = await client.messages.create({ model: live.model, max_tokens: 60, messages: [{ role: 'user', content: 'Pick a city' }], output_config: { format: { type: 'json_schema', schema: WEATHER } } });
  t.equal(m.stop_reason, 'end_turn');
  t.ok(['Paris', 'Oslo'].includes((JSON.parse(textOf(m)) as { city: string }).city), textOf(m));
});

t.test('a last assistant message is continued (prefill); stop sequences', async (t) => {
  const m = await client.messages.create({ model: live.model, max_tokens: 6, messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Well, ' }], temperature: 0, ...noEos } as Params);
  const chat = await live.clientWith('sk-test').chat.completions.create({
    model: live.model,
    messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Well, ' }],
    continue_final_message: true,
    max_completion_tokens: 6,
    temperature: 0,
    ...noEos,
  } as never);
  t.equal(textOf(m), (chat as { choices: { message: { content: string } }[] }).choices[0].message.content, 'continued as chat\'s continue_final_message');
  const thoughtOnly = await client.messages.create({ model: live.model, max_tokens: 2, messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: [{ type: 'thinking', thinking: 'Hm.', signature: '' }] }] });
  t.equal(thoughtOnly.type, 'message', 'a last assistant message without text is not continued: a new turn opens');

  const free = await client.messages.create({ model: live.model, max_tokens: 12, messages: [{ role: 'user', content: 'Count' }], temperature: 0, ...noEos } as Params);
  const word = textOf(free).trim().split(/\s+/)[1] ?? '';
  if (word.length > 0) {
    const stopped = await client.messages.create({ model: live.model, max_tokens: 12, messages: [{ role: 'user', content: 'Count' }], temperature: 0, stop_sequences: [word], ...noEos } as Params);
    t.equal(stopped.stop_reason, 'stop_sequence');
    t.equal(stopped.stop_sequence, word);
    t.notMatch(textOf(stopped), word, 'the text stops before it');
  }
});

t.test('errors in Anthropic\'s shape; x-api-key; the server keeps serving', async (t) => {
  const bad = await postJson(live.url, '/v1/messages', { model: live.model, max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] }, { 'x-api-key': 'sk-test' });
  t.equal(bad.status, 400);
  t.match(bad.body, { type: 'error', error: { type: 'invalid_request_error', message: /messages\.0\.content\.0/ } });
  const missing = await postJson(live.url, '/v1/messages', { model: live.model, messages: [{ role: 'user', content: 'x' }] }, { 'x-api-key': 'sk-test' });
  t.equal(missing.status, 400, 'max_tokens is required, as Anthropic\'s');
  t.match(missing.body, { type: 'error', error: { type: 'invalid_request_error' } });
  const noKey = await postJson(live.url, '/v1/messages', { model: live.model, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
  t.equal(noKey.status, 401);
  t.match(noKey.body, { type: 'error', error: { type: 'authentication_error' } });
  const other = await client.messages.create({ model: 'claude-x', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).then(() => null, (e: unknown) => e);
  t.ok(other instanceof Anthropic.NotFoundError, 'another model: the SDK raises NotFoundError');
  const server = await client.messages.create({ model: live.model, max_tokens: 5, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }).then(() => null, (e: unknown) => e);
  t.ok(server instanceof Anthropic.BadRequestError, 'a server tool: BadRequestError');
  for (const [extra, what] of [[{ mcp_servers: [{ type: 'url', url: 'http://x', name: 'x' }] }, 'mcp_servers'], [{ container: 'c1' }, 'container'], [{ output_config: { format: { type: 'xml' } } }, 'output_config.format']] as const) {
    const r = await postJson(live.url, '/v1/messages', { model: live.model, max_tokens: 5, messages: [{ role: 'user', content: 'x' }], ...extra }, { 'x-api-key': 'sk-test' });
    t.equal(r.status, 400, `${what}: 400`);
    t.match(r.body, { type: 'error', error: { message: new RegExp(what.replace('.', '\\.')) } });
  }
  const ok = await client.messages.create({ model: live.model, max_tokens: 3, messages: [{ role: 'user', content: 'still there?' }] });
  t.equal(ok.type, 'message');
  t.equal(live.engine.stats().kvBlocksUsed, 0, 'nothing left running');
});

t.test('several --served-model-name names: each is served and listed, the first reported', async (t) => {
  const multi = await startLive({ arch: 'qwen3', engine: { maxModelLen: 1024 }, config: { servedModelName: ['fixture', 'claude-sonnet-4-5'] } });
  t.teardown(() => multi.close());
  const anthropic = new Anthropic({ baseURL: multi.url, apiKey: 'unused', maxRetries: 0 });
  const m = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] });
  t.equal(m.model, 'fixture', 'the alias is served; the first name is reported');
  const chat = await multi.client.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 2 });
  t.equal(chat.model, 'fixture');
  const list = await multi.client.models.list();
  t.same(list.data.map((x) => x.id), ['fixture', 'claude-sonnet-4-5'], 'a card per name, as vLLM lists them');
  t.equal((await multi.client.models.retrieve('claude-sonnet-4-5')).id, 'claude-sonnet-4-5');
  const other = await postJson(multi.url, '/v1/messages', { model: 'claude-haiku', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] });
  t.equal(other.status, 404);
  t.match(other.body, { type: 'error', error: { type: 'not_found_error', message: /`fixture`, `claude-sonnet-4-5`/ } });
});
