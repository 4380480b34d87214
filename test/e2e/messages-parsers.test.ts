// /v1/messages over a scripted model (scripted.ts) that writes thoughts
// and tool calls: a thinking block, then text and tool_use blocks in the
// order written, the same whole and streamed; thinking blocks sent back
// reach the template as reasoning_content; thinking.type "disabled" turns
// Qwen3's enable_thinking off.
import t from 'tap';
import Anthropic from '@anthropic-ai/sdk';
import { startScripted } from './scripted.js';

const tools: Anthropic.Messages.Tool[] = [
  { name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  { name: 'get_time', input_schema: { type: 'object', properties: { tz: { type: 'string' } } } },
];
const CALLS = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n<tool_call>\n{"name": "get_time", "arguments": {"tz": "CET"}}\n</tool_call>';

const blocks = (content: Anthropic.Messages.ContentBlock[]): [string, string][] =>
  content.map((b) => (b.type === 'thinking' ? ['thinking', b.thinking] : b.type === 'text' ? ['text', b.text] : b.type === 'tool_use' ? ['tool_use', `${b.name} ${JSON.stringify(b.input)}`] : [b.type, '']));

t.test('thinking, text and tool_use blocks, whole and streamed', async (t) => {
  const { url, writes, engine } = await startScripted(t);
  const client = new Anthropic({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
  const params = { model: 'scripted', max_tokens: 200, messages: [{ role: 'user' as const, content: 'Weather in Oslo, and the time?' }], tools };
  writes(`<think>\nTwo calls.\n</think>\n\nLet me check.\n${CALLS}`);
  const m = await client.messages.create(params);
  const want: [string, string][] = [
    ['thinking', '\nTwo calls.\n'],
    ['text', 'Let me check.\n'],
    ['tool_use', 'get_weather {"city":"Oslo"}'],
    ['tool_use', 'get_time {"tz":"CET"}'],
  ];
  t.same(blocks(m.content), want, 'in the order written');
  t.equal(m.stop_reason, 'tool_use');
  const streamed = await client.messages.stream(params).finalMessage();
  t.same(blocks(streamed.content), want, 'the SDK\'s stream helper: the same blocks');
  t.equal(streamed.stop_reason, 'tool_use');

  writes('<think>\nHm.\n</think>\n\nSunny.');
  const plain = await client.messages.create({ ...params, tool_choice: { type: 'none' } });
  t.same(blocks(plain.content), [['thinking', '\nHm.\n'], ['text', 'Sunny.']]);
  t.equal(plain.stop_reason, 'end_turn');

  // A thinking block sent back: reasoning_content, which Qwen3's template keeps within the turn.
  writes('Done.');
  const history: Anthropic.Messages.MessageParam[] = [
    { role: 'user', content: 'Weather?' },
    { role: 'assistant', content: [{ type: 'thinking', thinking: 'Need it.', signature: '' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'sunny' }] }] },
  ];
  const withThoughts = await client.messages.countTokens({ model: 'scripted', messages: history, tools });
  const without = await client.messages.countTokens({ model: 'scripted', messages: history.map((h) => (h.role === 'assistant' && Array.isArray(h.content) ? { ...h, content: h.content.filter((b) => b.type !== 'thinking') } : h)), tools });
  t.ok(withThoughts.input_tokens > without.input_tokens, 'the thoughts reach the prompt');

  // thinking disabled: Qwen3's template closes an empty block in the prompt.
  const on = await client.messages.countTokens({ model: 'scripted', messages: [{ role: 'user', content: 'x' }] });
  const off = await client.messages.countTokens({ model: 'scripted', messages: [{ role: 'user', content: 'x' }], thinking: { type: 'disabled' } });
  t.ok(off.input_tokens > on.input_tokens, `enable_thinking false renders the empty <think></think> (${on.input_tokens} -> ${off.input_tokens})`);
  t.equal(engine.stats().numRunning + engine.stats().numWaiting, 0, 'nothing left running');
});
