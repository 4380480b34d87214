// End to end with the official `openai` client: the real server over the
// real engine (native CPU forward, the qwen3 fixture). Issue #4 §8: completions
// and chat, streaming and not, n > 1, logprobs, stop strings, usage, seeds,
// greedy HTTP output equal to the engine's, errors as the client's classes.

import OpenAI, { AuthenticationError, BadRequestError, NotFoundError } from 'openai';
import t, { type Test } from 'tap';
import { noEos, postJson, startLive, type Live } from './helpers.js';

let live: Live;
let client: OpenAI;

t.before(async () => {
  live = await startLive({ arch: 'qwen3' });
  client = live.client;
});
t.teardown(() => live.close());

/** The typings call streamed finish_reason non-null; the wire sends null until the end. */
const nullable = <T>(x: T): T | null => x;

async function rejectsWith(t: Test, p: Promise<unknown>, cls: abstract new (...args: never[]) => Error): Promise<unknown> {
  const err = await p.then(() => null, (e: unknown) => e);
  t.ok(err instanceof cls, `rejects with ${cls.name}, got ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`);
  return err;
}

const PROMPT = 'The quick brown fox';
const greedy = { temperature: 0, ignore_eos: true } as const;
/** temperature 1 with a seed (spread: the typings mark chat's seed deprecated; vLLM honours it). */
const sampled = (seed: number) => ({ temperature: 1, seed });

async function engineGreedy(ids: number[], maxTokens: number): Promise<{ tokenIds: number[]; text: string }> {
  const tokenIds: number[] = [];
  let text = '';
  for await (const o of live.engine.generate({ prompt: ids, params: { temperature: 0, maxTokens, ignoreEos: true } })) {
    for (const d of o.deltas) {
      tokenIds.push(...d.tokenIds);
      text += d.text;
    }
  }
  return { tokenIds, text };
}

t.test('completion: greedy through HTTP equals the engine, usage counts tokens', async (t) => {
  const ids = live.engine.tokenizer.encode(PROMPT, true);
  const direct = await engineGreedy(ids, 12);
  t.equal(direct.tokenIds.length, 12, 'the engine generated max_tokens tokens');

  // Token-id prompt: no tokenizer between the client and the engine.
  const byIds = await client.completions.create({ model: live.model, prompt: ids, max_tokens: 12, ...greedy, logprobs: 0 });
  t.equal(byIds.choices[0].text, direct.text, 'the same text as engine.generate on the same ids');
  t.same(byIds.choices[0].logprobs?.tokens, direct.tokenIds.map((id) => live.engine.tokenizer.tokenToString(id)), 'the same tokens');
  t.equal(byIds.choices[0].finish_reason, 'length');
  t.same(byIds.usage, { prompt_tokens: ids.length, completion_tokens: 12, total_tokens: ids.length + 12 });

  // Text prompt: the server tokenizes it the way the tokenizer does.
  const byText = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 12, ...greedy });
  t.equal(byText.choices[0].text, direct.text, 'a text prompt gives the same greedy text');
  t.equal(byText.usage?.prompt_tokens, ids.length, 'prompt_tokens is the tokenizer\'s count');
  t.equal(byText.usage?.completion_tokens, 12);
  t.match(byText.id, /^cmpl-/);
  t.equal(byText.object, 'text_completion');
  t.equal(byText.model, live.model);
});

t.test('completion: a stream carries the same text and ends with one usage chunk (choices: [])', async (t) => {
  const full = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 10, ...greedy });
  const stream = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 10, ...greedy, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish: string | null = null;
  const usage: unknown[] = [];
  let chunks = 0;
  let last: 'choice' | 'usage' = 'choice';
  for await (const c of stream) {
    chunks++;
    if (c.choices.length === 0) {
      usage.push(c.usage);
      last = 'usage';
      continue;
    }
    last = 'choice';
    for (const ch of c.choices) {
      text += ch.text;
      finish = nullable(ch.finish_reason) ?? finish;
    }
  }
  t.ok(chunks > 2, `streamed in ${chunks} chunks`);
  t.equal(text, full.choices[0].text, 'the stream\'s text equals the non-streamed text');
  t.equal(finish, 'length');
  t.same(usage, [full.usage], 'exactly one usage chunk, equal to the non-streaming usage');
  t.equal(last, 'usage', 'the usage chunk is the last one');

  const plain = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 4, ...greedy, stream: true });
  let withUsage = 0;
  for await (const c of plain) if (c.choices.length === 0 || (c.usage ?? null) !== null) withUsage++;
  t.equal(withUsage, 0, 'no usage chunk without stream_options.include_usage');
});

t.test('chat: non-streaming and streaming, usage of the rendered template', async (t) => {
  const messages = [{ role: 'user' as const, content: 'Say something' }];
  const r = await client.chat.completions.create({ model: live.model, messages, max_completion_tokens: 8, ...greedy });
  t.match(r.id, /^chatcmpl-/);
  t.equal(r.object, 'chat.completion');
  t.equal(r.choices[0].message.role, 'assistant');
  t.equal(r.choices[0].finish_reason, 'length');
  const rendered = live.engine.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
  const promptTokens = live.engine.tokenizer.encode(rendered, false).length;
  t.same(r.usage, { prompt_tokens: promptTokens, completion_tokens: 8, total_tokens: promptTokens + 8 }, 'prompt_tokens counts the rendered template');

  const stream = await client.chat.completions.create({ model: live.model, messages, max_completion_tokens: 8, ...greedy, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  t.equal(chunks[0].object, 'chat.completion.chunk');
  t.equal(chunks[0].choices[0].delta.role, 'assistant', 'the first chunk carries the role');
  t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), r.choices[0].message.content, 'the same content as non-streamed');
  const tail = chunks.at(-1);
  t.same(tail?.choices, [], 'the last chunk has choices: []');
  t.same(tail?.usage, r.usage, 'and the usage');
  t.equal(chunks.filter((c) => c.choices.length === 0).length, 1, 'one usage chunk');
});

t.test("stream_options.continuous_usage_stats (vLLM's): every chunk carries the usage so far", async (t) => {
  // Not in the openai typings: the options object goes through as sent.
  const streamOptions = { include_usage: true, continuous_usage_stats: true } as { include_usage: boolean };
  const full = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 6, ...greedy, ...noEos });
  const stream = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 6, ...greedy, ...noEos, stream: true, stream_options: streamOptions });
  const seen: number[] = [];
  let tokens = 0;
  for await (const c of stream) {
    // null is what the server sends when the usage is not there.
    const u = c.usage as typeof c.usage | null;
    if (u === undefined || u === null) {
      t.fail('a chunk without usage');
      continue;
    }
    t.equal(u.prompt_tokens, full.usage?.prompt_tokens, 'prompt_tokens in every chunk');
    t.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    if (c.choices.length > 0) tokens += 1;
    seen.push(u.completion_tokens);
  }
  t.ok(tokens > 1, `${tokens} text chunks`);
  t.same([...seen].sort((a, b) => a - b), seen, 'completion_tokens never goes down');
  t.equal(seen.at(-1), 6, 'and ends at the total');
  t.ok((seen[0] ?? 0) >= 1, 'the first text chunk counts its own token');

  const chat = await client.chat.completions.create({ model: live.model, messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 4, ...greedy, ...noEos, stream: true, stream_options: streamOptions });
  const chatSeen: (number | null)[] = [];
  for await (const c of chat) chatSeen.push(c.usage?.completion_tokens ?? null);
  t.equal(chatSeen[0], 0, 'chat: the role chunk, before any token');
  t.equal(chatSeen.at(-1), 4);
  t.notOk(chatSeen.includes(null), 'chat: every chunk');
});

t.test("truncate_prompt_tokens (vLLM's) runs the prompt's last N tokens", async (t) => {
  const long = 'one two three four five six seven eight nine ten eleven twelve';
  const ids = live.engine.tokenizer.encode(long, true);
  t.ok(ids.length > 6, `${ids.length} prompt tokens`);
  const cut = await postJson(live.url, '/v1/completions', { model: live.model, prompt: long, max_tokens: 3, ...greedy, echo: true, truncate_prompt_tokens: 4 });
  t.equal(cut.status, 200);
  const body = cut.body as { usage: { prompt_tokens: number }; choices: { text: string }[] };
  t.equal(body.usage.prompt_tokens, 4, 'four prompt tokens ran');
  const tail = live.engine.tokenizer.decode(ids.slice(-4), false);
  t.ok(body.choices[0].text.startsWith(tail), `echo shows the prompt that ran: ${JSON.stringify(tail)}`);
  const asIds = await postJson(live.url, '/v1/completions', { model: live.model, prompt: ids.slice(-4), max_tokens: 3, ...greedy });
  t.equal((asIds.body as { choices: { text: string }[] }).choices[0].text, body.choices[0].text.slice(tail.length), 'the same output as those four tokens given alone');
  const whole = await postJson(live.url, '/v1/completions', { model: live.model, prompt: long, max_tokens: 1, truncate_prompt_tokens: 1000 });
  t.equal((whole.body as { usage: { prompt_tokens: number } }).usage.prompt_tokens, ids.length, 'a bound above the length leaves it whole');
  const chat = await postJson(live.url, '/v1/chat/completions', { model: live.model, messages: [{ role: 'user', content: long }], max_tokens: 2, truncate_prompt_tokens: 5 });
  t.equal((chat.body as { usage: { prompt_tokens: number } }).usage.prompt_tokens, 5, 'chat: the rendered prompt cut to 5');
  const bad = await postJson(live.url, '/v1/completions', { model: live.model, prompt: long, truncate_prompt_tokens: 0 });
  t.equal(bad.status, 400);
  t.equal((bad.body as { error: { param: string } }).error.param, 'truncate_prompt_tokens');
});

t.test("allowed_token_ids (vLLM's): only those tokens are sampled, by the native sampler, multi-step or not", async (t) => {
  const yes = live.engine.tokenizer.encode(' yes', false);
  const no = live.engine.tokenizer.encode(' no', false);
  t.equal(yes.length + no.length, 2, "' yes' and ' no' are one token each");
  const r = await postJson(live.url, '/v1/completions', { model: live.model, prompt: PROMPT, max_tokens: 12, n: 3, temperature: 1, seed: 5, ignore_eos: true, allowed_token_ids: [...yes, ...no] });
  t.equal(r.status, 200);
  const texts = (r.body as { choices: { text: string }[] }).choices.map((c) => c.text);
  for (const text of texts) t.match(text, /^( yes| no){12}$/, `only the two tokens: ${JSON.stringify(text)}`);
  t.ok(new Set(texts.join('').split(' ')).size >= 2, 'and both of them appear (the choice is the model\'s)');
  const chat = await client.chat.completions.create({ model: live.model, messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 6, ...noEos, ...{ allowed_token_ids: yes } });
  t.equal(chat.choices[0].message.content, ' yes'.repeat(6), 'chat: one allowed token, six times');
  const bad = await postJson(live.url, '/v1/completions', { model: live.model, prompt: PROMPT, allowed_token_ids: [-1] });
  t.equal(bad.status, 400);
  t.equal((bad.body as { error: { param: string } }).error.param, 'allowed_token_ids');
  const guided = await postJson(live.url, '/v1/completions', { model: live.model, prompt: PROMPT, allowed_token_ids: yes, response_format: { type: 'json_object' } });
  t.equal(guided.status, 400, 'with response_format: 400');
  t.equal((guided.body as { error: { param: string } }).error.param, 'allowed_token_ids');
});

t.test("return_tokens_as_token_ids (vLLM's): logprob tokens as token_id:N, the same ids and logprobs", async (t) => {
  const body = { model: live.model, prompt: PROMPT, max_tokens: 5, ...greedy, logprobs: 2 };
  const plain = (await postJson(live.url, '/v1/completions', body)).body as { choices: { text: string; logprobs: { tokens: string[]; token_logprobs: number[]; top_logprobs: Record<string, number>[] } }[] };
  const ids = (await postJson(live.url, '/v1/completions', { ...body, return_tokens_as_token_ids: true })).body as typeof plain;
  const p0 = plain.choices[0];
  const i0 = ids.choices[0];
  t.equal(i0.text, p0.text, 'the same text');
  t.same(i0.logprobs.token_logprobs, p0.logprobs.token_logprobs, 'the same logprobs');
  t.ok(i0.logprobs.tokens.every((tok) => /^token_id:\d+$/.test(tok)), 'each token as token_id:N');
  const decoded = i0.logprobs.tokens.map((tok) => live.engine.tokenizer.tokenToString(Number(tok.slice('token_id:'.length))));
  t.same(decoded, p0.logprobs.tokens, 'naming the very tokens the plain run shows as text');
  t.ok(i0.logprobs.top_logprobs.every((top) => Object.keys(top).every((k) => /^token_id:\d+$/.test(k))), 'top_logprobs keyed the same way');

  const echo = (await postJson(live.url, '/v1/completions', { ...body, max_tokens: 1, echo: true, return_tokens_as_token_ids: true })).body as typeof plain;
  const promptIds = live.engine.tokenizer.encode(PROMPT, true);
  t.same(echo.choices[0].logprobs.tokens.slice(0, promptIds.length), promptIds.map((id) => `token_id:${id}`), 'echo: the prompt tokens too');

  const chat = (await postJson(live.url, '/v1/chat/completions', { model: live.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, ...greedy, logprobs: true, top_logprobs: 2, return_tokens_as_token_ids: true })).body as { choices: { logprobs: { content: { token: string; top_logprobs: { token: string }[] }[] } }[] };
  const content = chat.choices[0].logprobs.content;
  t.equal(content.length, 3);
  t.ok(content.every((c) => /^token_id:\d+$/.test(c.token) && c.top_logprobs.every((x) => /^token_id:\d+$/.test(x.token))), 'chat: tokens and top tokens as token_id:N');
});

t.test('n > 1: n choices, indexed 0..n-1, usage sums them', async (t) => {
  const r = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 6, n: 3, temperature: 1, seed: 7, ...noEos });
  t.same(r.choices.map((c) => c.index), [0, 1, 2]);
  t.ok(r.choices.every((c) => c.finish_reason === 'length'));
  t.equal(new Set(r.choices.map((c) => c.text)).size, 3, 'three different samples');
  t.equal(r.usage?.completion_tokens, 18, 'completion_tokens counts every choice');
  t.equal(r.usage?.prompt_tokens, live.engine.tokenizer.encode(PROMPT, true).length, 'prompt_tokens counts the prompt once');

  const chat = await client.chat.completions.create({ model: live.model, messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 5, n: 2, ...sampled(3), ...noEos, stream: true });
  const texts = ['', ''];
  const finished = [false, false];
  for await (const c of chat) {
    for (const ch of c.choices) {
      t.ok(ch.index === 0 || ch.index === 1, 'chunk index in range');
      texts[ch.index] += ch.delta.content ?? '';
      if (nullable(ch.finish_reason) !== null) finished[ch.index] = true;
    }
  }
  t.same(finished, [true, true], 'both streamed choices finish');
  t.not(texts[0], texts[1], 'streamed choices differ');
});

t.test('completion logprobs: shapes, the greedy token is the top one', async (t) => {
  const r = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 6, ...greedy, logprobs: 3 });
  const lp = r.choices[0].logprobs;
  if (lp == null) {
    t.fail('no logprobs');
    return;
  }
  const n = r.usage?.completion_tokens ?? -1;
  t.equal(lp.tokens?.length, n, 'one token per generated token');
  t.equal(lp.token_logprobs?.length, n);
  t.equal(lp.top_logprobs?.length, n);
  t.equal(lp.text_offset?.length, n);
  t.equal((lp.tokens ?? []).join(''), r.choices[0].text, 'the tokens spell the text');
  for (let i = 0; i < n; i++) {
    const chosen = lp.token_logprobs?.[i] ?? NaN;
    const top = lp.top_logprobs?.[i] ?? {};
    const tok = lp.tokens?.[i] ?? '';
    t.ok(chosen <= 0, `logprob ${chosen} <= 0`);
    const keys = Object.keys(top);
    t.ok(keys.length >= 1 && keys.length <= 4, `3 top entries (+ the chosen one): ${keys.length}`);
    t.equal(top[tok], chosen, 'the chosen token is among the top ones, with its logprob');
    t.ok(Object.values(top).every((v) => v <= chosen + 1e-6), 'greedy: nothing beats the chosen token');
    if (i > 0) t.equal(lp.text_offset?.[i], (lp.text_offset?.[i - 1] ?? 0) + (lp.tokens?.[i - 1].length ?? 0), 'text_offset advances by the token length');
  }
});

t.test('chat logprobs/top_logprobs: shapes, streaming and not', async (t) => {
  const messages = [{ role: 'user' as const, content: 'Count' }];
  const r = await client.chat.completions.create({ model: live.model, messages, max_completion_tokens: 5, ...greedy, logprobs: true, top_logprobs: 2 });
  const content = r.choices[0].logprobs?.content ?? [];
  t.equal(content.length, r.usage?.completion_tokens, 'one entry per generated token');
  t.equal(content.map((c) => c.token).join(''), r.choices[0].message.content, 'the tokens spell the content');
  for (const c of content) {
    t.ok(c.logprob <= 0);
    t.same(c.bytes, [...Buffer.from(c.token, 'utf8')], 'bytes are the token\'s UTF-8');
    t.equal(c.top_logprobs.length, 2, 'top_logprobs entries');
    t.equal(c.top_logprobs[0].token, c.token, 'greedy: the top entry is the chosen token');
    t.ok(c.top_logprobs[0].logprob >= c.top_logprobs[1].logprob, 'sorted by logprob');
  }
  const noTop = await client.chat.completions.create({ model: live.model, messages, max_completion_tokens: 3, ...greedy, logprobs: true });
  t.ok((noTop.choices[0].logprobs?.content ?? []).every((c) => c.top_logprobs.length === 0), 'logprobs without top_logprobs: chosen token only');
  const without = await client.chat.completions.create({ model: live.model, messages, max_completion_tokens: 3, ...greedy });
  t.equal(without.choices[0].logprobs ?? null, null, 'no logprobs unless asked');

  const stream = await client.chat.completions.create({ model: live.model, messages, max_completion_tokens: 5, ...greedy, logprobs: true, top_logprobs: 2, stream: true });
  const streamed = [];
  for await (const c of stream) for (const ch of c.choices) streamed.push(...(ch.logprobs?.content ?? []));
  t.same(streamed, content, 'streamed logprobs equal the non-streamed ones');
});

t.test('stop strings taken from the model\'s own greedy output cut the text', async (t) => {
  const full = (await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 24, ...greedy })).choices[0].text;
  // A stop string from the middle of the output, so it really occurs.
  const chars = Array.from(full);
  t.ok(chars.length >= 8, `greedy output long enough: ${JSON.stringify(full)}`);
  const mid = Math.floor(chars.length / 2);
  const stop = chars.slice(mid, mid + 2).join('');
  const cut = full.slice(0, full.indexOf(stop));
  t.ok(full.indexOf(stop) > 0, `stop ${JSON.stringify(stop)} occurs after the start`);

  const r = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 24, ...greedy, stop: [stop, 'never-generated-xyz'] });
  t.equal(r.choices[0].text, cut, 'the text ends right before the stop string');
  t.equal(r.choices[0].finish_reason, 'stop');
  t.equal((r.choices[0] as unknown as { stop_reason: unknown }).stop_reason, stop, 'stop_reason names the stop string (vLLM)');
  t.ok((r.usage?.completion_tokens ?? 99) < 24, 'generation stopped early');

  const incl = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 24, ...greedy, stop, include_stop_str_in_output: true } as OpenAI.CompletionCreateParamsNonStreaming);
  t.equal(incl.choices[0].text, cut + stop, 'include_stop_str_in_output keeps it');

  const stream = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 24, ...greedy, stop, stream: true });
  let text = '';
  let finish: string | null = null;
  for await (const c of stream) {
    for (const ch of c.choices) {
      text += ch.text;
      finish = nullable(ch.finish_reason) ?? finish;
    }
  }
  t.equal(text, cut, 'a stream never shows the stop string');
  t.equal(finish, 'stop');

  const chatFull = (await client.chat.completions.create({ model: live.model, messages: [{ role: 'user', content: 'go' }], max_completion_tokens: 20, ...greedy })).choices[0].message.content ?? '';
  const cc = Array.from(chatFull);
  const chatStop = cc.slice(Math.floor(cc.length / 2), Math.floor(cc.length / 2) + 2).join('');
  const chat = await client.chat.completions.create({ model: live.model, messages: [{ role: 'user', content: 'go' }], max_completion_tokens: 20, ...greedy, stop: chatStop });
  t.equal(chat.choices[0].message.content, chatFull.slice(0, chatFull.indexOf(chatStop)), 'chat: cut before the stop string');
  t.equal(chat.choices[0].finish_reason, 'stop');
});

t.test('seed: same seed at temperature 1 gives the same text, another seed another', async (t) => {
  const ask = async (seed: number): Promise<string> =>
    (await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 12, temperature: 1, seed, ...noEos })).choices[0].text;
  const a = await ask(1234);
  const b = await ask(1234);
  const c = await ask(4321);
  t.equal(b, a, 'same seed, same text');
  t.not(c, a, 'different seed, different text');
  const chat = async (seed: number): Promise<string | null> =>
    (await client.chat.completions.create({ model: live.model, messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 8, ...sampled(seed), ...noEos })).choices[0].message.content;
  t.equal(await chat(5), await chat(5), 'chat: same seed, same text');
});

t.test('logit_bias: +100 forces a token at temperature 1, -100 keeps the greedy pick out; logprobs stay the model\'s', async (t) => {
  const tok = live.engine.tokenizer;
  const [fox] = tok.encode(' fox', false);
  const forced = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 6, temperature: 1, seed: 3, logprobs: 1, logit_bias: { [fox]: 100 }, ...noEos });
  t.same(forced.choices[0].logprobs?.tokens, Array(6).fill(tok.tokenToString(fox)), 'six times the forced token');
  t.equal(forced.choices[0].text, ' fox'.repeat(6));
  // The random-weight fixture gives ' fox' no special weight: its raw logprob is far from 0.
  t.ok((forced.choices[0].logprobs?.token_logprobs?.[0] ?? 0) < -0.5, 'the logprob is the model\'s own, not the biased one');
  const first = (await engineGreedy(tok.encode(PROMPT, true), 1)).tokenIds[0];
  t.not(first, fox, 'the fixture\'s greedy pick is another token');
  const free = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 4, ...greedy, logprobs: 0 });
  const biasedChat = await client.chat.completions.create({
    model: live.model, messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 4, temperature: 0, logit_bias: { [fox]: 100 }, ...noEos,
  });
  t.equal(biasedChat.choices[0].message.content, ' fox'.repeat(4), 'chat honours it too');
  const banned = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 4, ...greedy, logprobs: 0, logit_bias: { [first]: -100 } });
  t.not(banned.choices[0].logprobs?.tokens?.[0], free.choices[0].logprobs?.tokens?.[0], 'greedy skips the token biased by -100');
  const bad = await rejectsWith(t, client.completions.create({ model: live.model, prompt: 'x', max_tokens: 2, logit_bias: { 1: 200 } }), BadRequestError);
  if (bad instanceof BadRequestError) t.equal(bad.param, 'logit_bias');
});

t.test('echo with logprobs: the prompt\'s tokens scored first, each as the model scores that token after its prefix', async (t) => {
  const tok = live.engine.tokenizer;
  const ids = tok.encode(PROMPT, true);
  const body = { model: live.model, prompt: PROMPT, max_tokens: 3, ...greedy, echo: true, logprobs: 2 };
  const ask = () => client.completions.create(body);
  const res = await ask();
  const lp = res.choices[0].logprobs;
  const L = ids.length;
  t.equal(lp?.tokens?.length, L + 3, 'prompt tokens, then the 3 generated');
  t.same(lp?.tokens?.slice(0, L), ids.map((id) => tok.tokenToString(id)), 'the prompt\'s tokens in order');
  t.equal(lp?.token_logprobs?.[0], null, 'the first prompt token has no logprob');
  t.equal(lp?.top_logprobs?.[0], null, '... and no top list');
  t.ok(lp?.token_logprobs?.slice(1).every((x) => typeof x === 'number' && x < 0), 'every other token has one');
  t.ok(res.choices[0].text.startsWith(PROMPT), 'the text echoes the prompt');
  // Each prompt logprob: the model's logprob of that token after its prefix,
  // read from a completion of the prefix forced (logit_bias +100) to it.
  for (const k of [1, Math.floor(L / 2), L - 1]) {
    const forced = await client.completions.create({
      model: live.model, prompt: ids.slice(0, k), max_tokens: 1, ...greedy, logprobs: 2, logit_bias: { [ids[k]]: 100 },
    });
    const want = forced.choices[0].logprobs?.token_logprobs?.[0] ?? NaN;
    t.ok(Math.abs((lp?.token_logprobs?.[k] ?? NaN) - want) < 1e-4, `position ${k}: ${lp?.token_logprobs?.[k]} vs ${want}`);
    t.same(Object.keys(lp?.top_logprobs?.[k] ?? {}).sort(), Object.keys(forced.choices[0].logprobs?.top_logprobs?.[0] ?? {}).sort(), `position ${k}: the same top tokens`);
  }
  const offsets = lp?.text_offset ?? [];
  t.ok(offsets.every((o, i) => i === 0 || o >= offsets[i - 1]), 'text offsets never decrease');

  // Again: the prompt's blocks are in the prefix cache now, and still every position is scored.
  const again = await ask();
  t.same(again.choices[0].logprobs, lp, 'a second request (prefix cached) gives the same logprobs');
  // Streamed: the first chunk carries the prompt part.
  const stream = await client.completions.create({ ...body, stream: true });
  const tokens: string[] = [];
  const lps: (number | null)[] = [];
  for await (const chunk of stream) {
    tokens.push(...(chunk.choices[0]?.logprobs?.tokens ?? []));
    lps.push(...(chunk.choices[0]?.logprobs?.token_logprobs ?? []));
  }
  t.same(tokens, lp?.tokens, 'streamed: the same tokens');
  t.same(lps, lp?.token_logprobs, 'streamed: the same logprobs');
  // n = 2: both choices start with the same prompt part.
  const two = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 2, temperature: 1, seed: 9, n: 2, echo: true, logprobs: 0, ...noEos });
  const [c0, c1] = two.choices;
  t.same(c0.logprobs?.token_logprobs?.slice(0, L), c1.logprobs?.token_logprobs?.slice(0, L), 'n = 2: the same prompt logprobs in each choice');
  t.same(c0.logprobs?.token_logprobs?.slice(1, L), lp?.token_logprobs?.slice(1, L), '... equal to the greedy request\'s');
  t.equal(live.engine.stats().kvBlocksUsed, 0, 'no blocks held afterwards');
});

t.test('vLLM\'s prompt_logprobs: per prompt token its logprob, vocab rank and text with the top N; completions and chat', async (t) => {
  type Entry = Record<string, { logprob: number; rank: number | null; decoded_token: string }> | null;
  const tok = live.engine.tokenizer;
  const ids = tok.encode(PROMPT, true);
  const echoed = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 2, ...greedy, echo: true, logprobs: 0 });
  const res = await postJson(live.url, '/v1/completions', { model: live.model, prompt: PROMPT, max_tokens: 2, ...greedy, prompt_logprobs: 2 });
  t.equal(res.status, 200);
  const choice = (res.body as { choices: { prompt_logprobs: Entry[]; text: string }[] }).choices[0];
  const pl = choice.prompt_logprobs;
  t.equal(pl.length, ids.length, 'one entry per prompt token');
  t.equal(pl[0], null, 'the first is null');
  pl.slice(1).forEach((e, i) => {
    const own = e?.[String(ids[i + 1])];
    t.ok(own !== undefined && Math.abs(own.logprob - (echoed.choices[0].logprobs?.token_logprobs?.[i + 1] ?? NaN)) < 1e-6, `token ${i + 1}: its logprob, as echo gives it`);
    t.ok(own !== undefined && own.rank !== null && own.rank >= 1 && own.decoded_token === tok.tokenToString(ids[i + 1]), `token ${i + 1}: rank ${own?.rank} and text`);
    const ranks = Object.values(e ?? {}).map((v) => v.rank).sort();
    t.ok(Object.keys(e ?? {}).length <= 3 && ranks.includes(1) && ranks.includes(2), 'with the top 2 (ranks 1 and 2)');
  });
  t.equal(choice.text, echoed.choices[0].text.slice(PROMPT.length), 'the same completion as without');
  const chat = await postJson(live.url, '/v1/chat/completions', { model: live.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, prompt_logprobs: 0 });
  const cb = chat.body as { prompt_logprobs: Entry[]; usage: { prompt_tokens: number } };
  t.equal(chat.status, 200);
  t.equal(cb.prompt_logprobs.length, cb.usage.prompt_tokens, 'chat: one entry per token of the rendered prompt');
  t.ok(cb.prompt_logprobs.slice(1).every((e) => e !== null && Object.keys(e).length === 1), 'chat: N 0 gives the prompt token alone');
  for (const [path, body] of [
    ['/v1/completions', { prompt: PROMPT, prompt_logprobs: 1, stream: true }],
    ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], prompt_logprobs: 1, stream: true }],
    ['/v1/completions', { prompt: PROMPT, prompt_logprobs: 21 }],
  ] as const) {
    const bad = await postJson(live.url, path, { model: live.model, max_tokens: 2, ...body });
    t.equal(bad.status, 400, `${path} ${JSON.stringify(body)}: 400`);
    t.match(bad.body, { error: { param: 'prompt_logprobs' } });
  }
});

t.test('echo with max_tokens 0 scores the prompt alone (no completion tokens)', async (t) => {
  const tok = live.engine.tokenizer;
  const ids = tok.encode(PROMPT, true);
  const full = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 1, ...greedy, echo: true, logprobs: 1 });
  const scored = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 0, ...greedy, echo: true, logprobs: 1 });
  const c = scored.choices[0];
  t.equal(c.text, PROMPT, 'the text is the prompt');
  t.same(c.logprobs?.tokens, full.choices[0].logprobs?.tokens?.slice(0, ids.length), 'the prompt\'s tokens only');
  t.same(c.logprobs?.token_logprobs, full.choices[0].logprobs?.token_logprobs?.slice(0, ids.length), 'with their logprobs');
  t.equal(c.finish_reason, 'length');
  t.same(scored.usage, { prompt_tokens: ids.length, completion_tokens: 0, total_tokens: ids.length });
  const stream = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 0, ...greedy, echo: true, logprobs: 1, stream: true, stream_options: { include_usage: true } });
  let text = '';
  const tokens: string[] = [];
  let usage: unknown = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    tokens.push(...(chunk.choices[0]?.logprobs?.tokens ?? []));
    if (chunk.usage) usage = chunk.usage;
  }
  t.equal(text, PROMPT, 'streamed: the prompt');
  t.same(tokens, c.logprobs?.tokens, 'streamed: the same tokens');
  t.same(usage, scored.usage, 'streamed: no completion tokens');
  const plain = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 0, echo: true });
  t.equal(plain.choices[0].text, PROMPT, 'without logprobs: the prompt echoed');
  await rejectsWith(t, client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 0 }), BadRequestError);
});

t.test('errors surface as the client\'s error classes, with OpenAI bodies', async (t) => {
  const badTemp = await rejectsWith(t, client.completions.create({ model: live.model, prompt: 'x', max_tokens: 2, temperature: -1 }), BadRequestError);
  if (badTemp instanceof BadRequestError) t.equal(badTemp.param, 'temperature');
  const wrongType = { model: live.model, prompt: 'x', max_tokens: 'two' } as unknown as OpenAI.CompletionCreateParamsNonStreaming;
  await rejectsWith(t, client.completions.create(wrongType), BadRequestError);
  await rejectsWith(t, client.chat.completions.create({ model: live.model, messages: [{ role: 'user', content: 'x' }], top_p: 0 }), BadRequestError);
  await rejectsWith(t, client.completions.create({ model: live.model, prompt: 'x', n: 0 }), BadRequestError);

  // Over --max-model-len: the prompt alone, and prompt + max_tokens.
  const long = Array.from({ length: 300 }, (_, i) => 100 + i);
  const tooLong = await rejectsWith(t, client.completions.create({ model: live.model, prompt: long, max_tokens: 1 }), BadRequestError);
  if (tooLong instanceof BadRequestError) t.equal(tooLong.code, 'context_length_exceeded');
  await rejectsWith(t, client.completions.create({ model: live.model, prompt: 'x', max_tokens: 1000 }), BadRequestError);
  await rejectsWith(t, client.chat.completions.create({ model: live.model, messages: [{ role: 'user', content: 'word '.repeat(400) }] }), BadRequestError);

  const nf = await rejectsWith(t, client.completions.create({ model: 'no-such-model', prompt: 'x', max_tokens: 1 }), NotFoundError);
  if (nf instanceof NotFoundError) t.equal(nf.code, 'model_not_found');
  await rejectsWith(t, client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }), NotFoundError);

  const raw = await postJson(live.url, '/v1/completions', { model: live.model, prompt: 'x', temperature: 'hot' });
  t.equal(raw.status, 400);
  t.match(raw.body, { error: { type: 'invalid_request_error', code: 'invalid_request', param: 'temperature' } });

  const after = await client.completions.create({ model: live.model, prompt: PROMPT, max_tokens: 3, ...greedy });
  t.equal(after.choices[0].finish_reason, 'length', 'the server still serves after errors');
  t.equal(live.engine.stats().kvBlocksUsed, 0, 'no blocks held by the rejected requests');
});

t.test('--api-key: a wrong key is AuthenticationError, the right one works', async (t) => {
  const secured = await startLive({ arch: 'qwen3', config: { apiKeys: ['sk-right', 'sk-other'] } });
  t.teardown(() => secured.close());
  await rejectsWith(t, secured.clientWith('sk-wrong').completions.create({ model: secured.model, prompt: 'x', max_tokens: 1 }), AuthenticationError);
  await rejectsWith(t, secured.clientWith('sk-wrong').chat.completions.create({ model: secured.model, messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 1 }), AuthenticationError);
  const ok = await secured.clientWith('sk-other').completions.create({ model: secured.model, prompt: 'x', max_tokens: 2, ...greedy });
  t.equal(ok.choices[0].finish_reason, 'length', 'any configured key is accepted');
  const models = await secured.clientWith('sk-right').models.list();
  t.same(models.data.map((m) => m.id), [secured.model]);
  t.equal((await fetch(`${secured.url}/health`)).status, 200, '/health needs no key');
  t.equal((await fetch(`${secured.url}/v1/models`)).status, 401, 'no key: 401');
});
