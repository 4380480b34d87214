// Tool calling on /v1/chat/completions (src/server/tools.ts): a named
// function and "required" by grammar-guided decoding, through the official
// openai client; streamed calls arrive whole in the choice's last chunk;
// tool messages and an assistant's tool_calls reach the chat template; bad
// tools are 400s naming the field. "auto" on the real model here (its
// random text holds no call); the calls it reads are in tool-auto.test.ts.
import t, { type Test } from 'tap';
import type OpenAI from 'openai';
import { startLive } from './helpers.js';

const WEATHER = { type: 'object', properties: { city: { enum: ['Paris', 'Oslo'] }, unit: { enum: ['C', 'F'] } }, required: ['city', 'unit'], additionalProperties: false };
const TIME = { type: 'object', properties: { tz: { enum: ['UTC', 'CET'] } }, required: ['tz'], additionalProperties: false };
const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'The weather of a city', parameters: WEATHER } },
  { type: 'function', function: { name: 'get_time', parameters: TIME } },
];
const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];

/** The call's arguments parse and hold to its tool's schema. */
function checkCall(t: Test, call: { function: { name: string; arguments: string } }, what: string): void {
  const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
  if (call.function.name === 'get_weather') {
    t.same(Object.keys(args).sort(), ['city', 'unit'], `${what}: get_weather's arguments`);
    t.ok(['Paris', 'Oslo'].includes(args.city as string) && ['C', 'F'].includes(args.unit as string), `${what}: values from the enums`);
  } else {
    t.equal(call.function.name, 'get_time', `${what}: one of the tools`);
    t.ok(['UTC', 'CET'].includes(args.tz as string), `${what}: tz from the enum`);
  }
}

t.test('named function, required, streamed, history, auto; bad tools refused', async (t) => {
  // No reasoning parser: under one, a named or "required" call may open
  // <think> first (its grammar holds after </think>), and a random-weight
  // model that does may think until max_tokens; that path is tested over
  // scripted text in chat-parsers.test.ts.
  const live = await startLive({ arch: 'qwen3', engine: { maxModelLen: 1024 }, config: { reasoningParser: 'none' } });
  t.teardown(() => live.close());
  const client = live.client;
  const base = { model: live.model, messages, tools, max_completion_tokens: 200 };

  const named = await client.chat.completions.create({ ...base, tool_choice: { type: 'function', function: { name: 'get_weather' } } });
  const n0 = named.choices[0];
  t.equal(n0.message.content, null, 'named: no content');
  t.equal(n0.message.tool_calls?.length, 1, 'named: one call');
  t.equal(n0.finish_reason, 'stop', 'named: finish_reason stop (as OpenAI for a forced function)');
  const call = n0.message.tool_calls?.[0];
  if (call?.type !== 'function') throw new Error('no function call');
  t.equal(call.function.name, 'get_weather');
  t.match(call.id, /^call_[0-9a-f]{24}$/);
  t.equal(call.function.arguments, JSON.stringify(JSON.parse(call.function.arguments)), 'arguments compact JSON');
  checkCall(t, call, 'named');

  const one = { ...base, tool_choice: 'required' as const, parallel_tool_calls: false, temperature: 0.9, seed: 5, n: 3 };
  const req = await client.chat.completions.create(one);
  for (const c of req.choices) {
    t.equal(c.finish_reason, 'tool_calls', `required ${c.index}: finish_reason tool_calls`);
    t.equal(c.message.tool_calls?.length, 1, `required ${c.index}: parallel_tool_calls false: one call`);
    const tc = c.message.tool_calls?.[0];
    if (tc?.type === 'function') checkCall(t, tc, `required ${c.index}`);
  }

  // The same request streamed: each choice's calls come whole in its last chunk, the same calls.
  const stream = await client.chat.completions.create({ ...one, stream: true });
  const got = new Map<number, { name: string; args: string; finish: string | null }>();
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      const g = got.get(c.index) ?? { name: '', args: '', finish: null };
      got.set(c.index, g);
      for (const d of c.delta.tool_calls ?? []) {
        g.name += d.function?.name ?? '';
        g.args += d.function?.arguments ?? '';
      }
      g.finish = c.finish_reason ?? g.finish;
    }
  }
  t.same(
    [...got.entries()].sort(([a], [b]) => a - b).map(([, g]) => [g.name, g.args, g.finish]),
    req.choices.map((c) => {
      const tc = c.message.tool_calls?.[0];
      return tc?.type === 'function' ? [tc.function.name, tc.function.arguments, 'tool_calls'] : null;
    }),
    'streamed: the same calls as the seeded request unstreamed',
  );

  // The call and its result go back into the conversation through the template.
  const history: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
    ...messages,
    { role: 'assistant', content: null, tool_calls: [call] },
    { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' },
  ];
  const after = await client.chat.completions.create({ model: live.model, messages: history, max_completion_tokens: 4 });
  t.equal(after.choices[0].finish_reason, 'length', 'a conversation with a tool result is served');
  const tok = await fetch(`${live.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: live.model, messages: history }) });
  const ids = ((await tok.json()) as { tokens: number[] }).tokens;
  const prompt = live.engine.tokenizer.decode(ids, false);
  t.match(prompt, '"name": "get_weather"', 'the template wrote the call');
  t.match(prompt, '{"temperature": 21}', 'and the tool result');
  t.match(prompt, (JSON.parse(call.function.arguments) as { city: string }).city, 'with its arguments');

  const post = async (body: object): Promise<{ status: number; param: string | null; message: string }> => {
    const res = await fetch(`${live.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: live.model, messages, max_tokens: 4, ...body }) });
    const b = (await res.json()) as { error?: { param: string | null; message: string } };
    return { status: res.status, param: b.error?.param ?? null, message: b.error?.message ?? '' };
  };
  const bad: [string, object, string, RegExp][] = [
    ['an unknown function', { tools, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice', /not one of the tools/],
    ['tool_choice without tools', { tool_choice: 'required' }, 'tool_choice', /needs tools/],
    ['a tool without a name', { tools: [{ type: 'function', function: {} }], tool_choice: 'required' }, 'tools.0.function.name', /letters, digits/],
    ['a tool twice', { tools: [tools[1], tools[1]], tool_choice: 'required' }, 'tools.1.function.name', /twice/],
    ['tools with response_format', { tools, tool_choice: 'required', response_format: { type: 'json_object' } }, 'response_format', /cannot be combined/],
    ['a tool message without tool_call_id', { messages: [...messages, { role: 'tool', content: 'x' }] }, 'messages.1.tool_call_id', /required/],
    ['tools on completions', {}, 'tools', /on \/v1\/completions is not supported/],
  ];
  for (const [what, body, param, message] of bad) {
    const r = what === 'tools on completions'
      ? await fetch(`${live.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: live.model, prompt: 'x', tools, tool_choice: 'required' }) }).then(async (res) => {
          const b = (await res.json()) as { error?: { param: string | null; message: string } };
          return { status: res.status, param: b.error?.param ?? null, message: b.error?.message ?? '' };
        })
      : await post(body);
    t.equal(r.status, 400, `${what}: 400`);
    t.equal(r.param, param, `${what}: names ${param}`);
    t.match(r.message, message, `${what}: ${r.message}`);
  }
  const none = await post({ tools, tool_choice: 'none' });
  t.equal(none.status, 200, 'tool_choice none: served as plain chat');

  // "auto" (the default with tools): Qwen3's template asks for <tool_call>
  // blocks, so the hermes parser reads the output; the fixture's random
  // text holds none, so all of it is the answer.
  for (const choice of [undefined, 'auto'] as const) {
    const auto = await client.chat.completions.create({ ...base, max_completion_tokens: 12, ...(choice === undefined ? {} : { tool_choice: choice }) });
    const a0 = auto.choices[0];
    t.equal(typeof a0.message.content, 'string', `auto (${choice ?? 'default'}): the text is content`);
    t.notOk(a0.message.tool_calls?.length, 'no call read from random text');
    t.ok(a0.finish_reason === 'length' || a0.finish_reason === 'stop', `finish ${a0.finish_reason}`);
  }
  t.equal(live.engine.stats().numRunning + live.engine.stats().numWaiting, 0);
});

t.test('tool_choice "auto" is a 400 where no parser serves it', async (t) => {
  const cases: [string, Parameters<typeof startLive>[0]][] = [
    ['--no-enable-auto-tool-choice', { arch: 'qwen3', config: { enableAutoToolChoice: false } }],
    ['--tool-call-parser none', { arch: 'qwen3', config: { toolCallParser: 'none' } }],
    ["a template that shows no tool syntax (Llama 3.0's)", { arch: 'llama' }],
  ];
  for (const [what, opts] of cases) {
    const live = await startLive({ ...opts, engine: { maxModelLen: 1024 } });
    t.teardown(() => live.close());
    const res = await fetch(`${live.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: live.model, messages, tools, max_tokens: 4 }) });
    const b = (await res.json()) as { error?: { param: string | null; message: string } };
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(b.error?.param, 'tool_choice', `${what}: names tool_choice`);
    t.match(b.error?.message, /--tool-call-parser/, `${what}: says how to serve it`);
    const required = await live.client.chat.completions.create({ model: live.model, messages, tools, tool_choice: 'required', max_completion_tokens: 60 });
    t.ok((required.choices[0].message.tool_calls?.length ?? 0) >= 1 || required.choices[0].finish_reason === 'length', `${what}: "required" is still served`);
  }
});

t.test('--chat-template with <tool_call> blocks serves "auto" on a model whose own template has no tools', async (t) => {
  const template = [
    '{%- if tools %}<tools>{% for t in tools %}{{ t.function.name }};{% endfor %}</tools>\nCall as <tool_call>{"name": ..., "arguments": ...}</tool_call>\n{% endif %}',
    '{%- for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}',
    '{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}',
  ].join('');
  const live = await startLive({ arch: 'llama', engine: { maxModelLen: 1024 }, config: { chatTemplate: template } });
  t.teardown(() => live.close());
  const r = await live.client.chat.completions.create({ model: live.model, messages, tools, max_completion_tokens: 8 });
  t.equal(typeof r.choices[0].message.content, 'string', '"auto" is served (hermes, from the template given)');
  const tok = await fetch(`${live.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages }) });
  const ids = ((await tok.json()) as { tokens: number[] }).tokens;
  t.match(live.engine.tokenizer.decode(ids, false), /<\|start_header_id\|>user<\|end_header_id\|>\n\nWhat is the weather in Paris\?<\|eot_id\|>/, 'the prompt is the given template\'s');
});
