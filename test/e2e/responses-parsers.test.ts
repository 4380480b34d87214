// /v1/responses over a scripted model (scripted.ts) that writes thoughts
// and tool calls: a reasoning item, then a message or function_call items,
// in the order written, the same whole and streamed; reasoning tokens
// counted in usage; a reasoning item and function calls sent back as input
// reach the template as chat's reasoning_content and tool_calls.
import t from 'tap';
import type OpenAI from 'openai';
import { startScripted } from './scripted.js';

const tools: OpenAI.Responses.FunctionTool[] = [
  { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: false },
  { type: 'function', name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } }, strict: false },
];
const CALL_WEATHER = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>';
const CALL_TIME = '<tool_call>\n{"name": "get_time", "arguments": {"tz": "CET"}}\n</tool_call>';

/** Each output item in short: [type, its text or name and arguments]. */
function items(output: OpenAI.Responses.ResponseOutputItem[]): [string, string][] {
  return output.map((o) => {
    if (o.type === 'reasoning') return ['reasoning', (o.content ?? []).map((c) => c.text).join('')];
    if (o.type === 'message') return ['message', o.content.map((c) => (c.type === 'output_text' ? c.text : '')).join('')];
    if (o.type === 'function_call') return ['function_call', `${o.name} ${o.arguments}`];
    return [o.type, ''];
  });
}

t.test('thoughts, content and calls as items, whole and streamed', async (t) => {
  const { client, writes, engine } = await startScripted(t);
  const base = { model: 'scripted', input: 'Weather in Oslo, and the time?', tools, max_output_tokens: 200 };

  writes(`<think>\nTwo calls.\n</think>\n\nLet me check.\n${CALL_WEATHER}\n${CALL_TIME}`);
  const r = await client.responses.create(base);
  const want: [string, string][] = [
    ['reasoning', '\nTwo calls.\n'],
    ['message', 'Let me check.\n'],
    ['function_call', 'get_weather {"city":"Oslo"}'],
    ['function_call', 'get_time {"tz":"CET"}'],
  ];
  t.same(items(r.output), want, 'in the order written');
  t.equal(r.status, 'completed');
  t.equal(r.output_text, 'Let me check.\n');
  t.ok(r.output.every((o) => o.type !== 'function_call' || /^call_[0-9a-f]{24}$/.test(o.call_id)), 'call ids');
  // <think>, the thoughts' tokens and </think>.
  const thoughtTokens = engine.tokenizer.encode('<think>\nTwo calls.\n</think>', false).length;
  t.equal(r.usage?.output_tokens_details.reasoning_tokens, thoughtTokens, `reasoning tokens ${thoughtTokens}`);

  const stream = await client.responses.create({ ...base, stream: true });
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  const last = events[events.length - 1];
  if (last.type !== 'response.completed') throw new Error(`ended with ${last.type}`);
  t.same(items(last.response.output), want, 'streamed: the same items');
  // (Its prompt is a prefix-cache hit: cached_tokens differs.)
  const counts = (u: OpenAI.Responses.ResponseUsage | undefined) => [u?.input_tokens, u?.output_tokens, u?.output_tokens_details.reasoning_tokens, u?.total_tokens];
  t.same(counts(last.response.usage), counts(r.usage), 'the same usage');
  t.ok((last.response.usage?.input_tokens_details.cached_tokens ?? 0) > 0, 'a prefix-cache hit');
  const thoughts = events.flatMap((e) => (e.type === 'response.reasoning_text.delta' ? [e.delta] : [])).join('');
  t.equal(thoughts, '\nTwo calls.\n', 'thoughts streamed as reasoning_text deltas');
  t.ok(events.filter((e) => e.type === 'response.reasoning_text.delta').length > 1, 'token by token');
  const added = events.flatMap((e) => (e.type === 'response.output_item.added' ? [e.item.type] : []));
  t.same(added, ['reasoning', 'message', 'function_call', 'function_call'], 'each item added once');
  const doneItems = events.flatMap((e) => (e.type === 'response.output_item.done' ? [e.output_index] : []));
  t.same(doneItems, [0, 1, 2, 3], 'and done in order');

  // The client's helper builds the same response from the events.
  const helper = await client.responses.stream(base).finalResponse();
  t.same(items(helper.output), want, 'the stream helper');

  writes('<think>\nHm.\n</think>\n\nIt is sunny.');
  const plain = await client.responses.create({ ...base, tool_choice: 'none' });
  t.same(items(plain.output), [['reasoning', '\nHm.\n'], ['message', 'It is sunny.']]);

  writes('<think>\nThinking for a long time about');
  const cut = await client.responses.create({ ...base, max_output_tokens: 4 });
  t.equal(cut.status, 'incomplete', 'cut while thinking');
  t.equal(cut.output[0]?.type, 'reasoning');
  t.equal(cut.usage?.output_tokens_details.reasoning_tokens, 4, 'every token a thought');
  t.equal(engine.stats().numRunning + engine.stats().numWaiting, 0, 'nothing left running');
});

t.test('a named call after thoughts: a reasoning item, then the function_call item', async (t) => {
  const { client, writes, violations } = await startScripted(t);
  writes('<think>\nOslo.\n</think>\n\n{"city": "Oslo"}');
  const base = { model: 'scripted', input: 'Weather?', tools, tool_choice: { type: 'function' as const, name: 'get_weather' }, max_output_tokens: 80 };
  const r = await client.responses.create(base);
  t.same(violations, []);
  t.same(items(r.output), [['reasoning', '\nOslo.\n'], ['function_call', 'get_weather {"city":"Oslo"}']]);
  const stream = await client.responses.create({ ...base, stream: true });
  let last: OpenAI.Responses.ResponseStreamEvent | null = null;
  for await (const e of stream) last = e;
  if (last?.type !== 'response.completed') throw new Error('no response.completed');
  t.same(items(last.response.output), items(r.output), 'streamed: the same items');
});

t.test('reasoning and function calls sent back as input reach the template as chat\'s', async (t) => {
  const { client, writes } = await startScripted(t);
  writes('Done.');
  const input: OpenAI.Responses.ResponseInputItem[] = [
    { role: 'user', content: 'Weather in Oslo?' },
    { type: 'reasoning', id: 'rs_1', summary: [], content: [{ type: 'reasoning_text', text: 'Need the weather.' }] },
    { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
    { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
  ];
  const r = await client.responses.create({ model: 'scripted', input, tools, max_output_tokens: 20 });
  const chat = await client.chat.completions.create({
    model: 'scripted',
    messages: [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }], reasoning_content: 'Need the weather.' } as OpenAI.Chat.Completions.ChatCompletionAssistantMessageParam,
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ],
    tools: tools.map((f) => ({ type: 'function' as const, function: { name: f.name, parameters: f.parameters ?? {} } })),
    max_completion_tokens: 20,
  });
  t.equal(r.usage?.input_tokens, chat.usage?.prompt_tokens, 'the same rendered prompt (thoughts kept within the turn)');
  const without = await client.responses.create({ model: 'scripted', input: input.filter((i) => !('type' in i) || i.type !== 'reasoning'), tools, max_output_tokens: 20 });
  t.ok((without.usage?.input_tokens ?? 0) < (r.usage?.input_tokens ?? 0), 'the reasoning item adds to the prompt');
  t.equal(r.output_text, 'Done.');
});
