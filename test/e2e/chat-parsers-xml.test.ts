// --tool-call-parser qwen3_coder, deepseek_v3 and deepseek_v31 end to end:
// the real server, engine and Qwen3 tokenizer over a scripted forward that
// writes exactly the given text (scripted.ts), through the official
// clients, whole and streamed. qwen3_coder's arguments are typed by the
// request's tools on every route that reads calls (chat, Responses, Messages).
import t from 'tap';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startScripted as start } from './scripted.js';

const FUNCTIONS = [
  { name: 'get_weather', parameters: { type: 'object' as const, properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } },
  { name: 'get_time', parameters: { type: 'object' as const, properties: { tz: { type: 'string' } } } },
];
const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = FUNCTIONS.map((f) => ({ type: 'function', function: f }));
const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Oslo for 3 days, and the time?' }];
const WANT: [string, string][] = [
  ['get_weather', '{"city":"Oslo","days":3}'],
  ['get_time', '{"tz":"CET"}'],
];

/** One whole and one streamed completion of what the model writes: [content, calls, finish_reason] of each, and the stream's tool_call deltas. */
async function both(client: OpenAI, extra: Partial<OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming> = {}) {
  const base = { model: 'scripted', messages, tools, max_completion_tokens: 150, ...extra };
  const r = await client.chat.completions.create(base);
  const c = r.choices[0];
  const whole = [c.message.content, (c.message.tool_calls ?? []).map((x) => (x.type === 'function' ? [x.function.name, x.function.arguments] : ['<custom>', ''])), c.finish_reason];
  const stream = await client.chat.completions.create({ ...base, stream: true });
  let content = '';
  const calls: [string, string][] = [];
  let finish: string | null = null;
  let deltas = 0;
  for await (const chunk of stream) {
    const d = chunk.choices[0];
    content += d.delta.content ?? '';
    for (const tc of d.delta.tool_calls ?? []) {
      calls[tc.index] = [tc.function?.name ?? '', tc.function?.arguments ?? ''];
      deltas++;
    }
    if (d.finish_reason !== null) finish = d.finish_reason;
  }
  return { whole, streamed: [calls.length > 0 && content === '' ? null : content, calls, finish], deltas };
}

t.test('--tool-call-parser qwen3_coder: <function=...> calls, arguments typed by the tools', async (t) => {
  const { client, writes, url, engine } = await start(t, { toolCallParser: 'qwen3_coder' });
  writes(
    'Let me check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>\n' +
      '<tool_call>\n<function=get_time>\n<parameter=tz>\nCET\n</parameter>\n</function>\n</tool_call>',
  );
  const r = await both(client);
  t.same(r.whole, ['Let me check.\n', WANT, 'tool_calls'], 'whole: the content, and days an integer by its schema');
  t.same(r.streamed, r.whole, 'streamed: the same');
  t.equal(r.deltas, 2, 'each call whole in one delta');
  const one = await both(client, { parallel_tool_calls: false });
  t.same(one.whole, ['Let me check.\n', WANT.slice(0, 1), 'tool_calls'], 'parallel_tool_calls false: the first call');
  t.same(one.streamed, one.whole);

  // The Responses and Messages APIs read the same calls, typed by their own tool shapes.
  const resp = await client.responses.create({
    model: 'scripted',
    input: 'Weather?',
    max_output_tokens: 150,
    tools: FUNCTIONS.map((f) => ({ type: 'function' as const, name: f.name, parameters: f.parameters, strict: false })),
  });
  t.same(
    resp.output.flatMap((o) => (o.type === 'function_call' ? [[o.name, o.arguments]] : [])),
    WANT,
    '/v1/responses: the same function_call items',
  );
  const anthropic = new Anthropic({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
  const m = await anthropic.messages.create({
    model: 'scripted',
    max_tokens: 150,
    messages: [{ role: 'user', content: 'Weather?' }],
    tools: FUNCTIONS.map((f) => ({ name: f.name, input_schema: f.parameters })),
  });
  t.same(
    m.content.flatMap((b) => (b.type === 'tool_use' ? [[b.name, JSON.stringify(b.input)]] : [])),
    WANT,
    '/v1/messages: the same tool_use blocks',
  );

  writes('<tool_call>\n<function=get_weather>\nOslo\n</function>\n</tool_call>');
  const bad = await both(client);
  t.same(bad.whole, ['<tool_call>\n<function=get_weather>\nOslo\n</function>\n</tool_call>', [], 'stop'], 'a block that is not a call stays text');
  t.same(bad.streamed, bad.whole);
  t.equal(engine.stats().numRunning + engine.stats().numWaiting, 0, 'nothing left running');
});

t.test('--tool-call-parser deepseek_v3 and deepseek_v31: <｜tool▁calls▁begin｜> sections', async (t) => {
  const v3 = await start(t, { toolCallParser: 'deepseek_v3' });
  const fenced = (name: string, args: string) => `<｜tool▁call▁begin｜>function<｜tool▁sep｜>${name}\n\`\`\`json\n${args}\n\`\`\`<｜tool▁call▁end｜>`;
  v3.writes(`Let me check.<｜tool▁calls▁begin｜>${fenced('get_weather', '{"city": "Oslo", "days": 3}')}\n${fenced('get_time', '{"tz": "CET"}')}<｜tool▁calls▁end｜>`);
  const r = await both(v3.client);
  t.same(r.whole, ['Let me check.', WANT, 'tool_calls'], 'deepseek_v3, whole');
  t.same(r.streamed, r.whole, 'deepseek_v3, streamed');
  t.equal(r.deltas, 2, 'each call whole in one delta');

  const v31 = await start(t, { toolCallParser: 'deepseek_v31' });
  v31.writes('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Oslo", "days": 3}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"tz": "CET"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>');
  const r31 = await both(v31.client);
  t.same(r31.whole, [null, WANT, 'tool_calls'], 'deepseek_v31, whole');
  t.same(r31.streamed, r31.whole, 'deepseek_v31, streamed');
  const one = await both(v31.client, { parallel_tool_calls: false });
  t.same(one.whole, [null, WANT.slice(0, 1), 'tool_calls'], 'parallel_tool_calls false: the first call');
  t.same(one.streamed, one.whole);
});
