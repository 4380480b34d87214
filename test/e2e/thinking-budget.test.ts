// thinking_token_budget (vLLM's) and Anthropic's thinking.budget_tokens over
// the scripted Qwen3 server (scripted.ts): the thoughts stop after the
// budget, </think> is written for the model, and the answer follows; a
// block that closes in time, or a prompt whose block is already closed, is
// left as it was; bad budgets are 400s naming the field.
import t from 'tap';
import Anthropic from '@anthropic-ai/sdk';
import { postJson, startLive } from './helpers.js';
import { startScripted } from './scripted.js';

const THOUGHTS = '<think>\nOne two three four five six seven.\n</think>\n\nBlue.';
const messages = [{ role: 'user', content: 'Colour of the sky?' }];

/** reasoning_content and content of a chat completion's first choice. */
function read(body: unknown): { reasoning: unknown; content: unknown } {
  const m = (body as { choices: { message: { reasoning_content?: unknown; content?: unknown } }[] }).choices[0].message;
  return { reasoning: m.reasoning_content, content: m.content };
}

t.test('chat: the thoughts end after the budget, </think> forced, whole and streamed', async (t) => {
  const { url, writes, tokenizer, engine } = await startScripted(t);
  const script = tokenizer.encode(THOUGHTS, false);
  const open = tokenizer.encode('<think>', false);
  t.equal(script[0], open[0], 'the script opens its block with one token');
  const three = tokenizer.decode(script.slice(1, 4), false);

  writes(THOUGHTS);
  const cut = await postJson(url, '/v1/chat/completions', { model: 'scripted', messages, max_tokens: 100, thinking_token_budget: 3 });
  t.equal(cut.status, 200);
  const r = read(cut.body);
  t.equal(r.reasoning, three, `three tokens of thoughts: ${JSON.stringify(three)}`);
  t.match(r.content, /Blue\.$/, 'then the answer (the script runs on where it was)');

  writes(THOUGHTS);
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'scripted', messages, max_tokens: 100, thinking_token_budget: 3, stream: true }),
  });
  let reasoning = '';
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const choices = (JSON.parse(line.slice(6)) as { choices: { delta: { reasoning_content?: string } }[] }).choices;
    if (choices.length > 0) reasoning += choices[0].delta.reasoning_content ?? '';
  }
  t.equal(reasoning, three, 'streamed: the same thoughts');

  writes(THOUGHTS);
  const roomy = read((await postJson(url, '/v1/chat/completions', { model: 'scripted', messages, max_tokens: 100, thinking_token_budget: 100 })).body);
  t.same(roomy, { reasoning: '\nOne two three four five six seven.\n', content: 'Blue.' }, 'a block that closes within the budget is untouched');

  writes('Blue.');
  const off = await postJson(url, '/v1/chat/completions', { model: 'scripted', messages, max_tokens: 100, thinking_token_budget: 0, chat_template_kwargs: { enable_thinking: false } });
  t.equal(read(off.body).content, 'Blue.', 'thinking off: the prompt\'s closed block, nothing forced');
  t.equal(engine.stats().numRunning + engine.stats().numWaiting, 0, 'nothing left running');
});

t.test('completions: a prompt that opens the block counts from there', async (t) => {
  const { url, writes, tokenizer } = await startScripted(t);
  writes('a b c d\n</think>\n\nBlue.');
  const script = tokenizer.encode('a b c d\n</think>\n\nBlue.', false);
  const end = tokenizer.encode('</think>', false);
  // The prompt's "\n" after <think> is the first of the three (vLLM counts them so).
  t.equal(tokenizer.encode('Sky?\n<think>\n', false).length, tokenizer.encode('Sky?\n<think>', false).length + 1, 'the prompt holds one token of thoughts');
  const r = await postJson(url, '/v1/completions', { model: 'scripted', prompt: 'Sky?\n<think>\n', max_tokens: 40, thinking_token_budget: 3 });
  t.equal(r.status, 200);
  const text = (r.body as { choices: { text: string }[] }).choices[0].text;
  t.ok(text.startsWith(tokenizer.decode([...script.slice(0, 2), ...end], true)), `two tokens, then </think>: ${JSON.stringify(text)}`);
});

t.test('responses: the reasoning item holds the budget\'s tokens', async (t) => {
  const { url, writes, tokenizer } = await startScripted(t);
  const script = tokenizer.encode(THOUGHTS, false);
  writes(THOUGHTS);
  const r = await postJson(url, '/v1/responses', { model: 'scripted', input: 'Sky?', thinking_token_budget: 3 });
  t.equal(r.status, 200);
  const output = (r.body as { output: { type: string; content: { text: string }[] }[] }).output;
  t.same(output[0], { ...output[0], type: 'reasoning', content: [{ type: 'reasoning_text', text: tokenizer.decode(script.slice(1, 4), false) }] });
  t.match(output[1], { type: 'message', content: [{ text: /Blue\.$/ }] });
});

t.test('the real forward and sampler (Qwen3 fixture, random weights): </think> lands right after the budget', async (t) => {
  const live = await startLive({ arch: 'qwen3' });
  t.teardown(() => live.close());
  const end = live.engine.tokenizer.encode('</think>', false);
  t.equal(end.length, 1, '</think> is one token');
  for (const budget of [0, 3, 9]) {
    const r = await postJson(live.url, '/v1/completions', {
      model: live.model, prompt: 'Sky?\n<think>', max_tokens: 14, ignore_eos: true, seed: 5, temperature: 0.8, logprobs: 0, return_tokens_as_token_ids: true, thinking_token_budget: budget,
    });
    t.equal(r.status, 200);
    const ids = (r.body as { choices: { logprobs: { tokens: string[] } }[] }).choices[0].logprobs.tokens.map((s) => Number(s.slice('token_id:'.length)));
    t.equal(ids.length, 14);
    // Seeded, and a random model writes </think> by chance about once in 150k tokens: it is the forced one.
    t.equal(ids.indexOf(end[0]), budget, `budget ${budget}: </think> right after it (${ids.join(' ')})`);
  }
});

t.test('messages: thinking.budget_tokens limits the thinking block', async (t) => {
  const { url, writes, tokenizer } = await startScripted(t);
  const client = new Anthropic({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
  const script = tokenizer.encode(THOUGHTS, false);
  writes(THOUGHTS);
  const m = await client.messages.create({ model: 'scripted', max_tokens: 100, messages: [{ role: 'user', content: 'Sky?' }], thinking: { type: 'enabled', budget_tokens: 3 } });
  t.same(m.content[0], { type: 'thinking', thinking: tokenizer.decode(script.slice(1, 4), false), signature: '' }, 'three tokens of thoughts');
  t.match(m.content[1], { type: 'text', text: /Blue\.$/ });
  const bad = await postJson(url, '/v1/messages', { model: 'scripted', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], thinking: { type: 'enabled', budget_tokens: 'lots' } });
  t.equal(bad.status, 400);
  t.match(bad.body, { type: 'error', error: { message: /thinking\.budget_tokens must be an integer/ } });
});

t.test('bad budgets are 400s naming the field; a model without thoughts refuses one', async (t) => {
  const { url } = await startScripted(t);
  const rows: [object, RegExp][] = [
    [{ thinking_token_budget: -1 }, /thinking_token_budget must be a non-negative integer, got -1/],
    [{ thinking_token_budget: 1.5 }, /thinking_token_budget/],
  ];
  for (const [extra, message] of rows) {
    const r = await postJson(url, '/v1/chat/completions', { model: 'scripted', messages, max_tokens: 5, ...extra });
    t.equal(r.status, 400, JSON.stringify(extra));
    t.match(r.body, { error: { message, param: /thinking_token_budget/ } });
  }
  const plain = await startScripted(t, { reasoningParser: 'none' });
  const r = await postJson(plain.url, '/v1/chat/completions', { model: 'scripted', messages, max_tokens: 5, thinking_token_budget: 3 });
  t.equal(r.status, 400);
  t.match(r.body, { error: { message: /needs a reasoning model/, param: 'thinking_token_budget' } });
  plain.writes('Fine.');
  const anthropic = await postJson(plain.url, '/v1/messages', { model: 'scripted', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], thinking: { type: 'enabled', budget_tokens: 1024 } });
  t.equal(anthropic.status, 200, 'Anthropic clients send a budget with every request: without thoughts it has nothing to limit');
});
