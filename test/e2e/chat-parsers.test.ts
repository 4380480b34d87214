// The chat output's parsers end to end: tool_choice "auto" and thoughts as
// reasoning_content, on the real server, engine and Qwen3 tokenizer (its
// template asks for <tool_call> blocks and writes <think> ones, so the
// hermes and <think> readers are picked), over a scripted forward that
// writes exactly the text a test gives it, since a random-weight model
// never writes a call or a thought. Through the official openai client,
// whole and streamed. Also continue_final_message, whose prompt is the
// other half of the same story (a continued <think> block).
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import OpenAI from 'openai';
import { fixtureModel } from '../fixtures/models.js';
import { startScripted as start } from './scripted.js';

type ToolCall = OpenAI.Chat.Completions.ChatCompletionMessageToolCall;
/** [name, arguments] of each function call (a custom tool call would be a bug here). */
const named = (calls: ToolCall[] | undefined): [string, string][] | undefined =>
  calls?.map((x) => (x.type === 'function' ? [x.function.name, x.function.arguments] : ['<custom>', '']));

const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
];
const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Oslo, and the time?' }];

const CALL_WEATHER = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>';
const CALL_TIME = '<tool_call>\n{"name": "get_time", "arguments": {"tz": "CET"}}\n</tool_call>';

/**
 * A copy of the Qwen3 fixture's tokenizer files where <tool_call> and
 * </tool_call> are special tokens, as in some vocabularies (Hermes 2 Pro's):
 * default decoding (skip_special_tokens) would drop them.
 */
async function specialToolTags(t: Test): Promise<string> {
  const src = await fixtureModel('qwen3', 'safetensors');
  const dir = mkdtempSync(join(tmpdir(), 'hipserve-special-tags-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  for (const f of readdirSync(src)) if (f.endsWith('.json') && f !== 'tokenizer.json') copyFileSync(join(src, f), join(dir, f));
  const json = JSON.parse(readFileSync(join(src, 'tokenizer.json'), 'utf8')) as { added_tokens: { content: string; special: boolean }[] };
  for (const a of json.added_tokens) if (a.content === '<tool_call>' || a.content === '</tool_call>') a.special = true;
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  return dir;
}

t.test('tool_choice auto reads the calls the model writes', async (t) => {
  const { client, writes, engine } = await start(t);
  const base = { model: 'scripted', messages, tools, max_completion_tokens: 100 };
  const summary = (c: OpenAI.Chat.Completions.ChatCompletion.Choice) => ({
    content: c.message.content,
    calls: named(c.message.tool_calls) ?? [],
    finish: c.finish_reason,
  });

  writes(`Let me check.\n${CALL_WEATHER}`);
  const one = await client.chat.completions.create({ ...base });
  t.same(summary(one.choices[0]), { content: 'Let me check.\n', calls: [['get_weather', '{"city":"Oslo"}']], finish: 'tool_calls' }, 'text before the call is content; the call is read');
  t.match(one.choices[0].message.tool_calls?.[0], { id: /^call_/, type: 'function' });

  writes(`${CALL_WEATHER}\n${CALL_TIME}`);
  const two = await client.chat.completions.create({ ...base, tool_choice: 'auto' });
  t.same(summary(two.choices[0]), { content: null, calls: [['get_weather', '{"city":"Oslo"}'], ['get_time', '{"tz":"CET"}']], finish: 'tool_calls' }, 'two calls, no content');

  const single = await client.chat.completions.create({ ...base, parallel_tool_calls: false });
  t.same(summary(single.choices[0]), { content: null, calls: [['get_weather', '{"city":"Oslo"}']], finish: 'tool_calls' }, 'parallel_tool_calls false: the first call only (as vLLM)');

  writes('It is 21 degrees in Oslo.');
  const plain = await client.chat.completions.create({ ...base });
  t.same(summary(plain.choices[0]), { content: 'It is 21 degrees in Oslo.', calls: [], finish: 'stop' }, 'no call: an answer');
  t.equal(plain.choices[0].message.tool_calls, undefined, 'and no tool_calls field');

  writes('<tool_call>\n{"name": get_weather}\n</tool_call>');
  const broken = await client.chat.completions.create({ ...base });
  t.same(summary(broken.choices[0]), { content: '<tool_call>\n{"name": get_weather}\n</tool_call>', calls: [], finish: 'stop' }, 'a block that is not a call stays text');

  writes(`Checking.\n${CALL_WEATHER}`);
  const cut = await client.chat.completions.create({ ...base, max_completion_tokens: 8 });
  t.equal(cut.choices[0].finish_reason, 'length', 'cut short by max_tokens');
  t.same(cut.choices[0].message.tool_calls, undefined, 'no call from half a block');
  t.match(cut.choices[0].message.content, /^Checking\.\n<tool_call>/, 'the half block is text');

  t.equal(engine.stats().numRunning + engine.stats().numWaiting, 0, 'nothing left running');
});

t.test('streamed: content as it comes, each call when its block closes', async (t) => {
  const { client, writes } = await start(t);
  writes(`Let me check.\n${CALL_WEATHER}\n${CALL_TIME}`);
  const stream = await client.chat.completions.create({ model: 'scripted', messages, tools, max_completion_tokens: 100, stream: true });
  let content = '';
  const calls: { id?: string; name?: string; args: string }[] = [];
  let finish: string | null = null;
  let contentChunksBeforeCall = 0;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c.delta.content) {
      content += c.delta.content;
      if (calls.length === 0) contentChunksBeforeCall++;
    }
    for (const tc of c.delta.tool_calls ?? []) {
      const slot = (calls[tc.index] ??= { args: '' });
      if (tc.id !== undefined) slot.id = tc.id;
      if (tc.function?.name !== undefined) slot.name = tc.function.name;
      slot.args += tc.function?.arguments ?? '';
    }
    if (c.finish_reason !== null) finish = c.finish_reason;
  }
  t.equal(content, 'Let me check.\n', 'the content, and nothing of the blocks');
  t.ok(contentChunksBeforeCall > 1, 'content streamed token by token before the calls');
  t.same(calls.map((c) => [c.name, c.args]), [['get_weather', '{"city":"Oslo"}'], ['get_time', '{"tz":"CET"}']], 'both calls, by index');
  t.ok(calls.every((c) => c.id?.startsWith('call_') === true), 'each with an id');
  t.equal(finish, 'tool_calls');

  // The same text whole gives the same reading.
  const whole = await client.chat.completions.create({ model: 'scripted', messages, tools, max_completion_tokens: 100 });
  t.equal(whole.choices[0].message.content, content);
  t.same(named(whole.choices[0].message.tool_calls), calls.map((c) => [c.name, c.args]));
});

/** The message's reasoning_content (vLLM's and llama.cpp's field; not in the openai typings). */
const thoughtsOf = (m: object): unknown => (m as { reasoning_content?: unknown }).reasoning_content;

t.test('thoughts come apart as reasoning_content', async (t) => {
  const { client, writes } = await start(t);
  const base = { model: 'scripted', messages, max_completion_tokens: 100 };

  writes('<think>\nEasy: it is blue.\n</think>\n\nThe sky is blue.');
  const one = await client.chat.completions.create(base);
  t.equal(thoughtsOf(one.choices[0].message), '\nEasy: it is blue.\n', 'the thoughts');
  t.equal(one.choices[0].message.content, 'The sky is blue.', 'the answer, without the block');
  t.equal(one.choices[0].finish_reason, 'stop');

  writes('No thoughts here.');
  const plain = await client.chat.completions.create(base);
  t.equal(thoughtsOf(plain.choices[0].message), null, 'no block: reasoning_content null');
  t.equal(plain.choices[0].message.content, 'No thoughts here.');

  writes(`<think>\nThe user wants the weather.\n</think>\n\n${CALL_WEATHER}`);
  const call = await client.chat.completions.create({ ...base, tools });
  t.equal(thoughtsOf(call.choices[0].message), '\nThe user wants the weather.\n', 'thoughts before a call');
  t.equal(call.choices[0].message.content, null, 'then only the call');
  t.same(named(call.choices[0].message.tool_calls), [['get_weather', '{"city":"Oslo"}']]);
  t.equal(call.choices[0].finish_reason, 'tool_calls');

  writes('<think>\nEasy: it is blue.\n</think>\n\nThe sky is blue.');
  const stream = await client.chat.completions.create({ ...base, stream: true });
  let reasoning = '';
  let content = '';
  let order = '';
  for await (const chunk of stream) {
    const d = chunk.choices[0].delta as { content?: string | null; reasoning_content?: string };
    if (d.reasoning_content !== undefined) {
      reasoning += d.reasoning_content;
      if (!order.endsWith('r')) order += 'r';
    }
    if (d.content) {
      content += d.content;
      if (!order.endsWith('c')) order += 'c';
    }
  }
  t.equal(reasoning, '\nEasy: it is blue.\n', 'streamed thoughts');
  t.equal(content, 'The sky is blue.', 'streamed answer');
  t.equal(order, 'rc', 'thoughts first, then the answer');
});

t.test('--reasoning-parser none leaves the thoughts in content', async (t) => {
  const { client, writes } = await start(t, { reasoningParser: 'none' });
  writes('<think>\nHm.\n</think>\n\nBlue.');
  const r = await client.chat.completions.create({ model: 'scripted', messages, max_completion_tokens: 100 });
  t.equal(r.choices[0].message.content, '<think>\nHm.\n</think>\n\nBlue.');
  t.notOk('reasoning_content' in r.choices[0].message, 'and no reasoning_content field');
});

t.test('continue_final_message leaves the last message open and the output continues it', async (t) => {
  const { client, writes, url } = await start(t);
  const post = async (path: string, body: object) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'scripted', ...body }) });
    return { status: res.status, body: (await res.json()) as { tokens?: number[]; error?: { param: string | null; message: string } } };
  };
  const open: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [...messages, { role: 'assistant', content: 'The weather in Oslo is' }];
  const tok = await post('/tokenize', { messages: open, continue_final_message: true });
  t.equal(tok.status, 200);
  const detok = await post('/detokenize', { tokens: tok.body.tokens });
  const prompt = (detok.body as { prompt?: string }).prompt ?? '';
  // (Qwen3's template writes an empty <think> block before the last assistant message.)
  t.match(prompt, /<\|im_start\|>assistant\n(<think>\n\n<\/think>\n\n)?The weather in Oslo is$/, `the prompt ends inside the message: ${JSON.stringify(prompt.slice(-60))}`);
  const closed = await post('/tokenize', { messages: open, add_generation_prompt: false });
  t.ok((closed.body.tokens?.length ?? 0) > (tok.body.tokens?.length ?? 0), 'without it the message is closed (end-of-turn after it)');

  /** vLLM's field, not in the openai typings. */
  const continuing = (msgs: OpenAI.Chat.Completions.ChatCompletionMessageParam[], max: number): OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming =>
    ({ model: 'scripted', messages: msgs, max_completion_tokens: max, continue_final_message: true }) as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;
  writes(' sunny.');
  const r = await client.chat.completions.create(continuing(open, 20));
  t.equal(r.choices[0].message.content, ' sunny.', 'the continuation');
  t.equal(r.usage?.prompt_tokens, tok.body.tokens?.length, 'over the prompt /tokenize shows');

  // A continued <think> block: the output's thoughts are reasoning_content.
  writes(' it is 21 C.\n</think>\n\nMild.');
  const thinking = await client.chat.completions.create(continuing([...messages, { role: 'assistant', content: '<think>\nOslo:' }], 40));
  t.equal(thoughtsOf(thinking.choices[0].message), ' it is 21 C.\n', 'the rest of the thoughts');
  t.equal(thinking.choices[0].message.content, 'Mild.');

  const both = await post('/v1/chat/completions', { messages: open, continue_final_message: true, add_generation_prompt: true });
  t.equal(both.status, 400, 'with add_generation_prompt true: 400');
  t.equal(both.body.error?.param, 'continue_final_message');
  const empty = await post('/v1/chat/completions', { messages: [...messages, { role: 'assistant', content: '' }], continue_final_message: true });
  t.equal(empty.status, 400, 'an empty final message: nothing to continue');
  t.match(empty.body.error?.message, /nothing to continue/);
});

t.test('response_format with thoughts: the grammar holds the answer after </think>', async (t) => {
  const { client, writes, violations } = await start(t);
  const base = { model: 'scripted', messages, max_completion_tokens: 60, response_format: { type: 'json_object' as const } };

  writes('<think>\nJSON it is.\n</think>\n\n{"a": 1}');
  const thought = await client.chat.completions.create(base);
  t.same(violations, [], 'nothing the script wrote was banned: thoughts free, the whitespace after </think>, then the answer the grammar\'s');
  t.equal(thoughtsOf(thought.choices[0].message), '\nJSON it is.\n');
  t.same(JSON.parse(thought.choices[0].message.content ?? ''), { a: 1 }, 'the answer is the JSON');

  writes('{"b": 2}');
  const direct = await client.chat.completions.create(base);
  t.same(violations, [], 'no thoughts: held from the first token, and the JSON passes');
  t.equal(thoughtsOf(direct.choices[0].message), null);
  t.same(JSON.parse(direct.choices[0].message.content ?? ''), { b: 2 });

  writes('Sure: {"b": 2}');
  await client.chat.completions.create(base);
  t.ok(violations.length > 0, 'text that is neither <think> nor JSON is banned at the first token');
});

t.test('a named or "required" tool call after thoughts: the grammar holds the call after </think>', async (t) => {
  const { client, writes, violations } = await start(t);
  const base = { model: 'scripted', messages, tools, max_completion_tokens: 80 };
  const namedChoice = { type: 'function' as const, function: { name: 'get_weather' } };

  writes('<think>\nOslo, then.\n</think>\n\n{"city": "Oslo"}');
  const one = await client.chat.completions.create({ ...base, tool_choice: namedChoice });
  t.same(violations, [], 'thoughts free, then the arguments the grammar\'s');
  t.equal(thoughtsOf(one.choices[0].message), '\nOslo, then.\n');
  t.equal(one.choices[0].message.content, null);
  t.same(named(one.choices[0].message.tool_calls), [['get_weather', '{"city":"Oslo"}']]);
  t.equal(one.choices[0].finish_reason, 'stop', 'a named call finishes with stop, as OpenAI');

  writes('<think>\nBoth.\n</think>\n\n[{"name": "get_weather", "parameters": {"city": "Oslo"}}, {"name": "get_time", "parameters": {"tz": "CET"}}]');
  const req = await client.chat.completions.create({ ...base, tool_choice: 'required' });
  t.same(violations, []);
  t.equal(thoughtsOf(req.choices[0].message), '\nBoth.\n');
  t.same(named(req.choices[0].message.tool_calls), [['get_weather', '{"city":"Oslo"}'], ['get_time', '{"tz":"CET"}']]);
  t.equal(req.choices[0].finish_reason, 'tool_calls');

  // Streamed: the thoughts as they come, the calls whole in the last chunk.
  const stream = await client.chat.completions.create({ ...base, tool_choice: 'required', stream: true });
  let reasoning = '';
  const got: [string, string][] = [];
  let finish: string | null = null;
  let thoughtChunks = 0;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    const d = c.delta as { reasoning_content?: string; content?: string | null };
    if (d.reasoning_content !== undefined) {
      reasoning += d.reasoning_content;
      thoughtChunks++;
    }
    t.notOk(d.content, 'no content: the answer is the calls');
    for (const tc of c.delta.tool_calls ?? []) got[tc.index] = [tc.function?.name ?? '', tc.function?.arguments ?? ''];
    if (c.finish_reason !== null) finish = c.finish_reason;
  }
  t.equal(reasoning, '\nBoth.\n');
  t.ok(thoughtChunks > 1, 'thoughts token by token');
  t.same(got, named(req.choices[0].message.tool_calls), 'the same calls');
  t.equal(finish, 'tool_calls');

  writes('{"city": "Paris"}');
  const direct = await client.chat.completions.create({ ...base, tool_choice: namedChoice });
  t.same(violations, [], 'no thoughts: held from the first token');
  t.equal(thoughtsOf(direct.choices[0].message), null);
  t.same(named(direct.choices[0].message.tool_calls), [['get_weather', '{"city":"Paris"}']]);
});

t.test('--reasoning-parser none: the grammar holds from the first token, <think> too', async (t) => {
  const { client, writes, violations } = await start(t, { reasoningParser: 'none' });
  writes('<think>x</think>{"a": 1}');
  await client.chat.completions.create({ model: 'scripted', messages, max_completion_tokens: 30, response_format: { type: 'json_object' } });
  t.ok(violations.length > 0, '<think> was banned');
});

t.test('hermes decodes special tokens (as vLLM), so <tool_call> as a special token is still read', async (t) => {
  const { client, writes } = await start(t, {}, await specialToolTags(t));
  writes(`Checking.\n${CALL_WEATHER}`);
  const r = await client.chat.completions.create({ model: 'scripted', messages, tools, max_completion_tokens: 60 });
  t.equal(r.choices[0].message.content, 'Checking.\n');
  t.same(named(r.choices[0].message.tool_calls), [['get_weather', '{"city":"Oslo"}']], 'the call is read');
  const skipped = await client.chat.completions.create({ model: 'scripted', messages, tools, max_completion_tokens: 60, ...{ skip_special_tokens: true } });
  t.same(skipped.choices[0].message.tool_calls, undefined, 'skip_special_tokens: true, asked for: the tags are dropped, no call is read');
  t.match(skipped.choices[0].message.content, /^Checking\.\n\n\{"name": "get_weather"/);
});

t.test('--tool-call-parser mistral: [TOOL_CALLS] calls, whole and streamed', async (t) => {
  const { client, writes } = await start(t, { toolCallParser: 'mistral' });
  writes('One moment. [TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "get_time", "arguments": {"tz": "CET"}}]');
  const base = { model: 'scripted', messages, tools, max_completion_tokens: 80 };
  const whole = await client.chat.completions.create(base);
  t.equal(whole.choices[0].message.content, 'One moment. ');
  t.same(named(whole.choices[0].message.tool_calls), [['get_weather', '{"city":"Oslo"}'], ['get_time', '{"tz":"CET"}']]);
  t.equal(whole.choices[0].finish_reason, 'tool_calls');
  const stream = await client.chat.completions.create({ ...base, stream: true });
  let content = '';
  const got: [string, string][] = [];
  for await (const chunk of stream) {
    content += chunk.choices[0]?.delta.content ?? '';
    for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) got[tc.index] = [tc.function?.name ?? '', tc.function?.arguments ?? ''];
  }
  t.equal(content, 'One moment. ');
  t.same(got, named(whole.choices[0].message.tool_calls), 'the same calls streamed');
});

t.test('--tool-call-parser pythonic: a Python list of calls, whole and streamed; other text is content', async (t) => {
  const { client, writes } = await start(t, { toolCallParser: 'pythonic' });
  writes(`[get_weather(city='Oslo'), get_time(tz="CET")]`);
  const base = { model: 'scripted', messages, tools, max_completion_tokens: 80 };
  const whole = await client.chat.completions.create(base);
  t.equal(whole.choices[0].message.content, null);
  t.same(named(whole.choices[0].message.tool_calls), [['get_weather', '{"city":"Oslo"}'], ['get_time', '{"tz":"CET"}']]);
  t.equal(whole.choices[0].finish_reason, 'tool_calls');
  const stream = await client.chat.completions.create({ ...base, stream: true });
  const got: [string, string][] = [];
  for await (const chunk of stream) {
    for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) got[tc.index] = [tc.function?.name ?? '', tc.function?.arguments ?? ''];
  }
  t.same(got, named(whole.choices[0].message.tool_calls), 'the same calls streamed');
  writes('It is sunny in Oslo.');
  const plain = await client.chat.completions.create(base);
  t.equal(plain.choices[0].message.content, 'It is sunny in Oslo.');
  t.equal(plain.choices[0].finish_reason, 'stop');
});

t.test("an assistant's reasoning_content in the history reaches the template (Qwen3 keeps it within the turn)", async (t) => {
  const { url, engine } = await start(t);
  const history = [
    ...messages,
    { role: 'assistant', content: '', reasoning_content: 'I need the weather tool.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Oslo"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21}' },
  ];
  const tokenize = async (msgs: object[]) => {
    const res = await fetch(`${url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'scripted', messages: msgs }) });
    return { status: res.status, body: (await res.json()) as { tokens?: number[]; error?: { param: string | null } } };
  };
  const ok = await tokenize(history);
  t.equal(ok.status, 200);
  const prompt = engine.tokenizer.decode(ok.body.tokens ?? [], false);
  t.match(prompt, '<think>\nI need the weather tool.\n</think>', 'the thoughts are in the prompt');
  const bad = await tokenize([...messages, { role: 'assistant', content: 'x', reasoning_content: 7 }]);
  t.equal(bad.status, 400, 'reasoning_content that is not text: 400');
  t.equal(bad.body.error?.param, 'messages.1.reasoning_content');
});
