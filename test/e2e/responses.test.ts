// POST /v1/responses (OpenAI's Responses API) on the real engine and the
// Qwen3 fixture, through the official openai client: the same tokens as
// /v1/chat/completions for the same conversation, whole and streamed (raw
// events and the client's stream helper), input items (instructions,
// function calls and their outputs), logprobs, max_output_tokens (status
// incomplete), text.format and function tools by grammar, the prefix
// cache's hit in usage, and 400s naming what is not served.
import t from 'tap';
import type OpenAI from 'openai';
import { BadRequestError, NotFoundError } from 'openai';
import { isOpenAIError, postJson, startLive, noEos } from './helpers.js';

type Live = Awaited<ReturnType<typeof startLive>>;
// vLLM's extra fields (ignore_eos) and includes newer than the client's
// typings (message.output_text.logprobs) pass through a cast.
type NonStreaming = OpenAI.Responses.ResponseCreateParamsNonStreaming;
type Streaming = OpenAI.Responses.ResponseCreateParamsStreaming;

const WEATHER = { type: 'object', properties: { city: { enum: ['Paris', 'Oslo'] } }, required: ['city'], additionalProperties: false };
const tools: OpenAI.Responses.FunctionTool[] = [{ type: 'function', name: 'get_weather', description: 'The weather of a city', parameters: WEATHER, strict: true }];

let live: Live;
t.before(async () => {
  live = await startLive({ arch: 'qwen3', engine: { maxModelLen: 1024 }, config: { reasoningParser: 'none' } });
});
t.teardown(() => live.close());

t.test('a string input: the chat route\'s tokens, in a response object', async (t) => {
  const client = live.client;
  const r = await client.responses.create({ model: live.model, input: 'Tell me a story', instructions: 'Be brief.', max_output_tokens: 12, temperature: 0, ...noEos } as unknown as NonStreaming);
  const chat = await client.chat.completions.create({
    model: live.model,
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Tell me a story' }],
    max_completion_tokens: 12,
    temperature: 0,
    ...noEos,
  });
  t.match(r.id, /^resp_[0-9a-f]{32}$/);
  t.equal(r.object, 'response');
  t.equal(r.model, live.model);
  t.equal(r.status, 'incomplete', 'cut by max_output_tokens');
  t.same(r.incomplete_details, { reason: 'max_output_tokens' });
  t.equal(r.output.length, 1);
  const msg = r.output[0];
  if (msg.type !== 'message') throw new Error('not a message');
  t.match(msg.id, /^msg_/);
  t.equal(msg.role, 'assistant');
  t.equal(msg.status, 'incomplete');
  t.equal(r.output_text, chat.choices[0].message.content, 'the same text as chat for the same conversation (greedy)');
  t.equal(r.usage?.input_tokens, chat.usage?.prompt_tokens);
  t.equal(r.usage?.output_tokens, 12);
  t.equal(r.usage?.total_tokens, (chat.usage?.prompt_tokens ?? 0) + 12);
  t.equal(r.usage?.output_tokens_details.reasoning_tokens, 0);
  t.equal(r.instructions, 'Be brief.');
  t.equal(r.max_output_tokens, 12);
  t.equal((r as { store?: unknown }).store, false, 'nothing is stored');
  t.equal(r.temperature, 0);
  t.same(r.text, { format: { type: 'text' } });

  // The same conversation again: its prompt is served from the prefix cache.
  const again = await client.responses.create({ model: live.model, input: 'Tell me a story', instructions: 'Be brief.', max_output_tokens: 12, temperature: 0, ...noEos } as unknown as NonStreaming);
  t.equal(again.output_text, r.output_text);
  const cached = again.usage?.input_tokens_details.cached_tokens ?? 0;
  t.ok(cached > 0 && cached < (again.usage?.input_tokens ?? 0), `cached_tokens ${cached} of ${again.usage?.input_tokens}`);
  t.equal(cached % 16, 0, 'whole blocks');
});

t.test('streamed: OpenAI\'s events in order, the same items as the whole response', async (t) => {
  const client = live.client;
  const params = { model: live.model, input: [{ role: 'user' as const, content: 'Hello' }], max_output_tokens: 8, temperature: 0, ...noEos };
  const whole = await client.responses.create(params as unknown as NonStreaming);
  const stream = await client.responses.create({ ...params, stream: true } as unknown as Streaming);
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  t.same(events.map((e) => e.sequence_number), events.map((_, i) => i), 'sequence numbers 0, 1, 2, ...');
  const types = events.map((e) => e.type);
  t.same(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
  t.same(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.incomplete']);
  const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
  t.equal(text, whole.output_text, 'the deltas make the whole response\'s text');
  const last = events[events.length - 1];
  if (last.type !== 'response.incomplete') throw new Error('no response.incomplete');
  t.equal(last.response.status, 'incomplete');
  t.same(last.response.usage, whole.usage);
  const item = last.response.output[0];
  t.equal(item.type === 'message' ? item.content[0].type === 'output_text' && item.content[0].text : null, whole.output_text);
  const created = events[0];
  if (created.type !== 'response.created') throw new Error('no response.created');
  t.equal(created.response.status, 'in_progress');
  t.same(created.response.output, []);
  t.equal(created.response.id, last.response.id);

  // The raw wire: each event named by its type, and no [DONE].
  const raw = await postJson(live.url, '/v1/responses', { ...params, stream: true });
  t.equal(raw.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.equal(typeof raw.body, 'string');
  t.match(raw.body, /^event: response\.created\ndata: \{/);
  t.notMatch(raw.body, /\[DONE\]/);

  // The client's stream helper accumulates the events into the same response.
  const helper = client.responses.stream({ ...params });
  const final = await helper.finalResponse();
  // (The helper sets no output_text unless it parses a format: read the items.)
  const texts = final.output.flatMap((o) => (o.type === 'message' ? o.content.map((c) => (c.type === 'output_text' ? c.text : '')) : []));
  t.equal(texts.join(''), whole.output_text);
});

t.test('input items: function calls and their outputs reach the template as chat\'s tool_calls and tool messages', async (t) => {
  const client = live.client;
  const input: OpenAI.Responses.ResponseInputItem[] = [
    { role: 'user', content: [{ type: 'input_text', text: 'Weather in Oslo?' }] },
    { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
    { type: 'function_call_output', call_id: 'call_1', output: '{"temp": 3}' },
  ];
  const r = await client.responses.create({ model: live.model, input, tools, max_output_tokens: 6, temperature: 0, tool_choice: 'none', ...noEos } as unknown as NonStreaming);
  const chat = await client.chat.completions.create({
    model: live.model,
    messages: [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 3}' },
    ],
    max_completion_tokens: 6,
    temperature: 0,
    ...noEos,
  });
  t.equal(r.usage?.input_tokens, chat.usage?.prompt_tokens, 'the same rendered prompt');
  t.equal(r.output_text, chat.choices[0].message.content);
  t.equal(r.tool_choice, 'none');
});

t.test('logprobs (include message.output_text.logprobs), streamed and whole', async (t) => {
  const client = live.client;
  const params = { model: live.model, input: 'Hi', max_output_tokens: 5, temperature: 0, top_logprobs: 2, include: ['message.output_text.logprobs'], ...noEos };
  const r = await client.responses.create(params as unknown as NonStreaming);
  const msg = r.output[0];
  const part = msg.type === 'message' ? msg.content[0] : null;
  if (part?.type !== 'output_text') throw new Error('no output_text');
  t.equal(part.logprobs?.length, 5, 'one per token');
  for (const lp of part.logprobs ?? []) {
    t.ok(lp.logprob <= 0);
    t.equal(lp.top_logprobs.length, 2);
  }
  t.equal(part.logprobs?.map((l) => l.token).join(''), part.text, 'the tokens spell the text');
  const stream = await client.responses.create({ ...params, stream: true } as unknown as Streaming);
  const streamed: number[] = [];
  for await (const e of stream) if (e.type === 'response.output_text.delta') streamed.push(...e.logprobs.map((l) => l.logprob));
  t.same(streamed, part.logprobs?.map((l) => l.logprob));
});

t.test('text.format json_schema and a named function tool, held by the grammar', async (t) => {
  const client = live.client;
  const r = await client.responses.create({
    model: live.model,
    input: 'Pick a city',
    max_output_tokens: 60,
    text: { format: { type: 'json_schema', name: 'city', schema: WEATHER, strict: true } },
  });
  t.equal(r.status, 'completed');
  t.ok(['Paris', 'Oslo'].includes((JSON.parse(r.output_text) as { city: string }).city), r.output_text);
  // The client's parse helper reads the JSON back.
  const parsed = await client.responses.parse({ model: live.model, input: 'Pick a city', max_output_tokens: 60, text: { format: { type: 'json_schema', name: 'city', schema: WEATHER, strict: true } } });
  t.ok(['Paris', 'Oslo'].includes((parsed.output_parsed as { city?: string } | null)?.city ?? ''), 'responses.parse: output_parsed');

  const named = await client.responses.create({ model: live.model, input: 'Weather?', tools, tool_choice: { type: 'function', name: 'get_weather' }, max_output_tokens: 60 });
  t.equal(named.output.length, 1);
  const call = named.output[0];
  if (call.type !== 'function_call') throw new Error('no function_call');
  t.equal(call.name, 'get_weather');
  t.match(call.call_id, /^call_/);
  t.match(call.id ?? '', /^fc_/);
  t.ok(['Paris', 'Oslo'].includes((JSON.parse(call.arguments) as { city: string }).city));

  const stream = await client.responses.create({ model: live.model, input: 'Weather?', tools, tool_choice: 'required', parallel_tool_calls: false, max_output_tokens: 60, stream: true });
  const types: string[] = [];
  let done: OpenAI.Responses.Response | null = null;
  for await (const e of stream) {
    types.push(e.type);
    if (e.type === 'response.completed') done = e.response;
  }
  t.same(types.filter((x) => x.startsWith('response.function_call') || x.startsWith('response.output_item')), [
    'response.output_item.added',
    'response.function_call_arguments.delta',
    'response.function_call_arguments.done',
    'response.output_item.done',
  ]);
  t.equal(done?.output[0]?.type, 'function_call');
});

t.test('what is not served is a 400 naming the field; the server keeps serving', async (t) => {
  const base = { model: live.model, input: 'x', max_output_tokens: 2 };
  const cases: [Record<string, unknown>, string][] = [
    [{ previous_response_id: 'resp_1' }, 'previous_response_id'],
    [{ background: true }, 'background'],
    [{ truncation: 'auto' }, 'truncation'],
    [{ tools: [{ type: 'web_search_preview' }] }, 'tools.0.type'],
    [{ tools, tool_choice: { type: 'file_search' } }, 'tool_choice'],
    [{ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }, 'input.0.content.0'],
    [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input.0'],
    [{ input: [{ role: 'tool', content: 'x' }] }, 'input.0.role'],
    [{ input: [] }, 'input'],
    [{ include: ['everything'] }, 'include'],
    [{ text: { format: { type: 'xml' } } }, 'text.format'],
    [{ max_output_tokens: 0 }, 'max_output_tokens'],
    [{ n: 2 }, 'n'],
    [{ max_tokens: 5 }, 'max_tokens'],
    [{ response_format: { type: 'json_object' } }, 'response_format'],
    [{ ignore_eos: 'yes' }, 'ignore_eos'],
    [{ prompt_logprobs: 1 }, 'prompt_logprobs'],
    [{ conversation: 'conv_1' }, 'conversation'],
    [{ temperature: -1 }, 'temperature'],
    [{ tools, tool_choice: { type: 'function', name: 'nope' } }, 'tool_choice'],
  ];
  for (const [extra, param] of cases) {
    const res = await postJson(live.url, '/v1/responses', { ...base, ...extra });
    t.equal(res.status, 400, `${JSON.stringify(extra)}: 400`);
    t.ok(isOpenAIError(res.body) && res.body.error.param === param, `${JSON.stringify(extra)}: param ${param}, got ${JSON.stringify(res.body)}`);
  }
  // Nothing is stored by default: reading or deleting a response finds none.
  const r1 = await live.client.responses.create(base);
  for (const method of ['GET', 'DELETE']) {
    const res = await fetch(new URL(`/v1/responses/${r1.id}`, live.url), { method });
    const got: unknown = await res.json();
    t.equal(res.status, 404, `${method}: 404`);
    t.ok(isOpenAIError(got) && got.error.code === 'response_not_found' && got.error.message.includes(r1.id) && got.error.message.includes('--responses-store-size is 0'), `${method}: response_not_found naming the id and the flag`);
  }
  const gone = await live.client.responses.retrieve(r1.id).then(() => null, (e: unknown) => e);
  t.ok(gone instanceof NotFoundError, 'the client raises NotFoundError');
  const err = await live.client.responses.create({ ...base, previous_response_id: 'resp_1' }).then(() => null, (e: unknown) => e);
  t.ok(err instanceof BadRequestError, 'the client raises BadRequestError');
  const ok = await live.client.responses.create(base);
  t.ok(ok.status === 'completed' || ok.status === 'incomplete', 'still serving');
  t.equal(live.engine.stats().kvBlocksUsed, 0, 'nothing left running');
});

t.test('--responses-store-size: previous_response_id continues a conversation; GET and DELETE; the oldest dropped', async (t) => {
  const kept = await startLive({ arch: 'qwen3', engine: { maxModelLen: 1024 }, config: { reasoningParser: 'none', responsesStoreSize: 2 } });
  t.teardown(() => kept.close());
  const client = kept.client;
  const opts = { model: kept.model, max_output_tokens: 4, temperature: 0, ...noEos };
  const r1 = await client.responses.create({ ...opts, input: 'First question', instructions: 'Be brief.' } as unknown as NonStreaming);
  t.equal((r1 as { store?: unknown }).store, true, 'kept (store defaults to true, as OpenAI)');
  // A streamed follow-up, chained by id.
  const stream = await client.responses.create({ ...opts, input: 'Second question', previous_response_id: r1.id, stream: true } as unknown as Streaming);
  let r2: OpenAI.Responses.Response | null = null;
  for await (const e of stream) if (e.type === 'response.incomplete' || e.type === 'response.completed') r2 = e.response;
  if (r2 === null) throw new Error('no final event');
  t.equal(r2.previous_response_id, r1.id);
  // The same conversation as chat messages: r1's instructions are not carried over (as OpenAI).
  const chat = await client.chat.completions.create({
    model: kept.model,
    messages: [
      { role: 'user', content: 'First question' },
      { role: 'assistant', content: r1.output_text },
      { role: 'user', content: 'Second question' },
    ],
    max_completion_tokens: 4,
    temperature: 0,
    ...noEos,
  });
  t.equal(r2.usage?.input_tokens, chat.usage?.prompt_tokens, 'the prompt is the whole conversation');
  const text2 = r2.output.flatMap((o) => (o.type === 'message' ? o.content.map((c) => (c.type === 'output_text' ? c.text : '')) : [])).join('');
  t.equal(text2, chat.choices[0].message.content, 'and the same answer (greedy)');

  const got = await client.responses.retrieve(r1.id);
  t.equal(got.id, r1.id);
  t.same(got.output, r1.output, 'GET returns the stored response');

  // The items r2 was generated from: r1's input and output, then its own input; newest first by default.
  const asc = await client.responses.inputItems.list(r2.id, { order: 'asc' });
  const shape = (i: OpenAI.Responses.ResponseItem): string => (i.type === 'message' ? `${i.role}:${i.content.map((c) => (c as { text?: string }).text ?? '').join('')}` : String(i.type));
  t.same(asc.data.map(shape), ['user:First question', ...r1.output.map((o) => shape(o as OpenAI.Responses.ResponseItem)), 'user:Second question']);
  t.same(asc.data.slice(1, -1).map((i) => i.id), r1.output.map((o) => o.id), 'r1\'s output items keep their ids');
  t.ok(asc.data.every((i) => typeof i.id === 'string' && i.id !== ''), 'every item has an id');
  t.match(asc.data[0], { type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'First question' }] });
  const desc = await client.responses.inputItems.list(r2.id);
  t.same(desc.data.map((i) => i.id), asc.data.map((i) => i.id).reverse(), 'desc by default, the same ids');
  const paged: string[] = [];
  for await (const item of client.responses.inputItems.list(r2.id, { limit: 1 })) paged.push(item.id);
  t.same(paged, desc.data.map((i) => i.id), 'the SDK pages through them one at a time (after, has_more)');
  const last = asc.data[asc.data.length - 1].id;
  const before = (await (await fetch(new URL(`/v1/responses/${r2.id}/input_items?order=asc&before=${last}&limit=2`, kept.url))).json()) as { data: { id: string }[]; has_more: boolean };
  t.same([before.data.map((i) => i.id), before.has_more], [asc.data.slice(-3, -1).map((i) => i.id), asc.data.length > 3], 'before: the items next to the cursor');
  for (const [query, param] of [['limit=0', 'limit'], ['limit=101', 'limit'], ['order=up', 'order'], ['after=msg_x', 'after']] as const) {
    const bad = await fetch(new URL(`/v1/responses/${r2.id}/input_items?${query}`, kept.url));
    t.equal(bad.status, 400, query);
    t.match(await bad.json(), { error: { param } });
  }
  t.equal((await fetch(new URL('/v1/responses/resp_none/input_items', kept.url))).status, 404);

  // store: false is not kept; the store holds the newest two.
  const unkept = await client.responses.create({ ...opts, input: 'x', store: false } as unknown as NonStreaming);
  t.equal((unkept as { store?: unknown }).store, false);
  t.equal((await fetch(new URL(`/v1/responses/${unkept.id}`, kept.url))).status, 404);
  await client.responses.create({ ...opts, input: 'third' } as unknown as NonStreaming);
  await client.responses.create({ ...opts, input: 'fourth' } as unknown as NonStreaming);
  const evicted = await postJson(kept.url, '/v1/responses', { ...opts, input: 'again', previous_response_id: r1.id });
  t.equal(evicted.status, 400, 'the oldest was dropped');
  t.ok(isOpenAIError(evicted.body) && evicted.body.error.param === 'previous_response_id' && evicted.body.error.message.includes('newest 2'));

  const del = await postJson(kept.url, '/v1/responses', { ...opts, input: 'to delete' });
  const id = (del.body as { id: string }).id;
  const res = await fetch(new URL(`/v1/responses/${id}`, kept.url), { method: 'DELETE' });
  t.same(await res.json(), { id, object: 'response', deleted: true });
  t.equal((await fetch(new URL(`/v1/responses/${id}`, kept.url), { method: 'DELETE' })).status, 404, 'gone');
});
