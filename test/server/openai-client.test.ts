// End to end with the official `openai` client against a live server on
// 127.0.0.1 over the fake engine.

import OpenAI, { AuthenticationError, BadRequestError, NotFoundError, RateLimitError } from 'openai';
import t, { type Test } from 'tap';
import { startServer, waitFor, type Harness } from '../helpers/server-harness.js';

let h: Harness;

/** Widens a field the typings call non-null but the wire sends as null. */
const nullable = (x: string | null): string | null => x;

/** The client's error class (tap's t.rejects matches a class by shape, not by instanceof). */
async function rejectsWith(t: Test, p: Promise<unknown>, cls: abstract new (...args: never[]) => Error): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  t.ok(err instanceof cls, `rejects with ${cls.name}, got ${err instanceof Error ? err.constructor.name + ': ' + err.message : String(err)}`);
}
let client: OpenAI;

t.before(async () => {
  h = await startServer();
  client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
t.teardown(() => h.close());

t.test('completion, non-streaming: shape and usage', async (t) => {
  const r = await client.completions.create({ model: 'fake-model', prompt: 'Hello there', max_tokens: 5, temperature: 0 });
  t.match(r.id, /^cmpl-/);
  t.equal(r.object, 'text_completion');
  t.equal(r.model, 'fake-model');
  t.equal(r.choices.length, 1);
  t.equal(r.choices[0].finish_reason, 'length');
  t.ok(r.choices[0].text.length > 0);
  const promptTokens = h.engine.tokenizer.encode('Hello there', true).length;
  t.same(r.usage, { prompt_tokens: promptTokens, completion_tokens: 5, total_tokens: promptTokens + 5 });
});

t.test('completion, streaming equals non-streaming (greedy) and ends with a usage chunk', async (t) => {
  const full = await client.completions.create({ model: 'fake-model', prompt: 'Tell me', max_tokens: 6, temperature: 0 });
  const stream = await client.completions.create({ model: 'fake-model', prompt: 'Tell me', max_tokens: 6, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish: string | null = null;
  const usage: unknown[] = [];
  for await (const chunk of stream) {
    if (chunk.choices.length === 0) usage.push(chunk.usage);
    for (const c of chunk.choices) {
      text += c.text;
      // The typings say non-null; streamed chunks carry null until the end.
      finish = nullable(c.finish_reason) ?? finish;
    }
  }
  t.equal(text, full.choices[0].text);
  t.equal(finish, 'length');
  t.same(usage, [full.usage], 'exactly one usage chunk, equal to the non-streaming usage');
});

t.test('no usage chunk without stream_options.include_usage', async (t) => {
  const stream = await client.completions.create({ model: 'fake-model', prompt: 'x', max_tokens: 3, stream: true });
  let n = 0;
  for await (const chunk of stream) {
    n++;
    t.ok(chunk.choices.length > 0, `chunk ${n} has a choice`);
    t.notOk('usage' in chunk && chunk.usage, `chunk ${n} has no usage`);
  }
  t.ok(n > 0, `the stream had chunks (${n})`);
});

t.test('chat, non-streaming and streaming (first chunk has the role)', async (t) => {
  const msgs = [{ role: 'user' as const, content: 'Say something' }];
  const r = await client.chat.completions.create({ model: 'fake-model', messages: msgs, max_completion_tokens: 4, temperature: 0 });
  t.match(r.id, /^chatcmpl-/);
  t.equal(r.object, 'chat.completion');
  t.equal(r.choices[0].message.role, 'assistant');
  t.equal(r.usage?.completion_tokens, 4);
  const rendered = h.engine.tokenizer.applyChatTemplate(msgs, { addGenerationPrompt: true });
  t.equal(r.usage?.prompt_tokens, h.engine.tokenizer.encode(rendered, false).length, 'prompt is the rendered chat template');

  const stream = await client.chat.completions.create({ model: 'fake-model', messages: msgs, max_completion_tokens: 4, temperature: 0, stream: true });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  t.equal(chunks[0].object, 'chat.completion.chunk');
  t.equal(chunks[0].choices[0].delta.role, 'assistant');
  t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), r.choices[0].message.content);
  t.equal(chunks.at(-1)?.choices[0].finish_reason, 'length');
});

t.test('n > 1 gives n choices; a list of prompts gives n per prompt', async (t) => {
  const r = await client.completions.create({ model: 'fake-model', prompt: ['a', 'b'], n: 3, max_tokens: 2, seed: 1 });
  t.same(r.choices.map((c) => c.index), [0, 1, 2, 3, 4, 5]);
  t.equal(r.usage?.completion_tokens, 12);
  const chat = await client.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: 'hi' }], n: 2, max_completion_tokens: 3 });
  t.same(chat.choices.map((c) => c.index), [0, 1]);
  const stream = await client.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: 'hi' }], n: 2, max_completion_tokens: 3, stream: true });
  const seen = new Set<number>();
  for await (const c of stream) for (const ch of c.choices) seen.add(ch.index);
  t.same([...seen].sort(), [0, 1]);
});

t.test('logprobs: completions (parallel arrays) and chat (content list)', async (t) => {
  const r = await client.completions.create({ model: 'fake-model', prompt: 'x', max_tokens: 3, logprobs: 2 });
  const lp = r.choices[0].logprobs;
  t.equal(lp?.tokens?.length, 3);
  t.equal(lp?.token_logprobs?.length, 3);
  t.equal(lp?.tokens?.join(''), r.choices[0].text);
  t.same(lp?.text_offset?.[0], 0);
  t.ok(Object.keys(lp?.top_logprobs?.[0] ?? {}).length >= 2);
  const c = await client.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 3, logprobs: true, top_logprobs: 2 });
  const content = c.choices[0].logprobs?.content ?? [];
  t.equal(content.length, 3);
  t.equal(content[0].top_logprobs.length, 2);
  t.same(content[0].bytes, [...Buffer.from(content[0].token)]);
  t.equal(content.map((x) => x.token).join(''), c.choices[0].message.content);
});

t.test('stop strings and stop_token_ids end the choice with finish_reason stop', async (t) => {
  const base = await client.completions.create({ model: 'fake-model', prompt: 'stop test', max_tokens: 8, temperature: 0 });
  const unstopped = base.choices[0].text;
  const words = unstopped.split(' ').filter(Boolean);
  t.ok(words.length >= 3, `three words to stop at: ${JSON.stringify(unstopped)}`);
  const stopWord = ` ${words[2]}`;
  // Generation stops at the stop string's first occurrence (it may occur
  // earlier than the third word: a word can repeat, or end a longer one)
  // and the text ends just before it.
  const at = unstopped.indexOf(stopWord);
  t.ok(at >= 0, 'the stop string occurs in the unstopped text');
  const r = await client.completions.create({ model: 'fake-model', prompt: 'stop test', max_tokens: 8, temperature: 0, stop: [stopWord] });
  t.equal(r.choices[0].finish_reason, 'stop');
  t.equal(r.choices[0].text, unstopped.slice(0, at), 'the unstopped text cut before the first occurrence of the stop string');
  const ids = h.engine.tokenizer.encode(stopWord, false);
  const byId = await client.completions.create({ model: 'fake-model', prompt: 'stop test', max_tokens: 8, temperature: 0, stop_token_ids: [ids[0]] } as OpenAI.CompletionCreateParamsNonStreaming);
  t.equal(byId.choices[0].finish_reason, 'stop');
});

t.test('the same seed gives the same text', async (t) => {
  const a = await client.completions.create({ model: 'fake-model', prompt: 'seeded', max_tokens: 8, temperature: 1, seed: 42 });
  const b = await client.completions.create({ model: 'fake-model', prompt: 'seeded', max_tokens: 8, temperature: 1, seed: 42 });
  const c = await client.completions.create({ model: 'fake-model', prompt: 'seeded', max_tokens: 8, temperature: 1, seed: 43 });
  t.equal(a.choices[0].text, b.choices[0].text);
  t.not(a.choices[0].text, c.choices[0].text);
});

t.test('errors surface as the client error classes', async (t) => {
  await rejectsWith(t, client.completions.create({ model: 'fake-model', prompt: 'x', max_tokens: -1 }), BadRequestError);
  await rejectsWith(t, client.completions.create({ model: 'other-model', prompt: 'x', max_tokens: 1 }), NotFoundError);
  const err = await client.completions.create({ model: 'fake-model', prompt: 'x', max_tokens: 1, temperature: -1 }).catch((e: unknown) => e);
  t.ok(err instanceof BadRequestError);
  if (err instanceof BadRequestError) {
    t.equal(err.status, 400);
    t.equal(err.param, 'temperature');
    t.equal(err.code, 'invalid_request');
    t.match(err.message, /temperature must be non-negative/);
  }
});

t.test('401 and 429 as AuthenticationError and RateLimitError', async (t) => {
  const keyed = await startServer({ config: { apiKeys: ['k1'], maxNumQueuedRequests: 1 }, engine: { maxNumQueuedRequests: 1 } });
  t.teardown(() => keyed.close());
  const bad = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await rejectsWith(t, bad.models.list(), AuthenticationError);
  const good = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'k1', maxRetries: 0 });
  keyed.engine.pause();
  const first = good.completions.create({ model: 'fake-model', prompt: 'x', max_tokens: 2 });
  await waitFor(() => keyed.engine.stats().numWaiting === 1, 'the first request to be queued');
  await rejectsWith(t, good.completions.create({ model: 'fake-model', prompt: 'y', max_tokens: 2 }), RateLimitError);
  keyed.engine.resume();
  t.equal((await first).choices[0].finish_reason, 'length');
});

t.test('models list names the served model', async (t) => {
  const list = await client.models.list();
  t.same(list.data.map((m) => m.id), ['fake-model']);
});

t.test('models retrieve: the served model, or NotFoundError for another', async (t) => {
  const m = await client.models.retrieve('fake-model');
  t.equal(m.id, 'fake-model');
  t.equal(m.object, 'model');
  t.same(m, (await client.models.list()).data[0], 'the same card as the list');
  await rejectsWith(t, client.models.retrieve('gpt-4'), NotFoundError);
});
