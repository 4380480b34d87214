// The small read-only routes of src/server/routes/info.ts: GET /version,
// POST /tokenize (a prompt, chat messages through the chat template, neither)
// and POST /detokenize (the round trip, an id outside the vocabulary, another
// model's name), over the fake engine's real Qwen3 tokenizer.

import { readFileSync } from 'node:fs';
import t from 'tap';
import { startServer, type Harness } from '../helpers/server-harness.js';

let h: Harness;

t.before(async () => {
  h = await startServer();
});
t.teardown(() => h.close());

interface Reply {
  status: number;
  body: unknown;
}

async function post(path: string, body: unknown): Promise<Reply> {
  const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function tokens(body: unknown): Promise<number[]> {
  const r = await post('/tokenize', body);
  if (r.status !== 200) throw new Error(`/tokenize answered ${r.status}: ${JSON.stringify(r.body)}`);
  return (r.body as { tokens: number[] }).tokens;
}

t.test('GET /version answers the package version', async (t) => {
  const res = await fetch(`${h.url}/version`);
  t.equal(res.status, 200);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.same(await res.json(), { version: pkg.version });
});

t.test('/tokenize then /detokenize gives the text back', async (t) => {
  const text = 'Hello, world! Ünïcode ✓';
  const tok = await post('/tokenize', { model: 'fake-model', prompt: text });
  t.equal(tok.status, 200);
  const ids = h.engine.tokenizer.encode(text, true);
  t.same(tok.body, { count: ids.length, max_model_len: h.engine.model.maxModelLen, tokens: ids }, 'the tokenizer\'s ids, counted');
  const detok = await post('/detokenize', { model: 'fake-model', tokens: ids });
  t.equal(detok.status, 200);
  t.same(detok.body, { prompt: text, content: text }, 'the round trip gives the text back (vLLM\'s prompt, llama.cpp\'s content)');
  const noModel = await post('/detokenize', { tokens: ids });
  t.same(noModel, { status: 200, body: { prompt: text, content: text } }, 'model may be left out');
});

t.test('/detokenize: an id outside the vocabulary is a 400 OpenAI error naming tokens', async (t) => {
  const V = h.engine.model.vocabSize;
  const ok = h.engine.tokenizer.encode(' fine', false);
  for (const bad of [V, -1]) {
    const r = await post('/detokenize', { model: 'fake-model', tokens: [...ok, bad] });
    t.equal(r.status, 400, `id ${bad}`);
    t.match(r.body, { error: { type: 'invalid_request_error', code: 'invalid_request', param: 'tokens', message: `Token id ${bad} is out of vocabulary (size ${V}).` } });
  }
  const last = await post('/detokenize', { tokens: [V - 1] });
  t.equal(last.status, 200, 'the last id of the vocabulary is in it');
});

t.test('/detokenize and /tokenize with another model name: 404 model_not_found', async (t) => {
  for (const [path, body] of [['/detokenize', { tokens: [1] }], ['/tokenize', { prompt: 'x' }]] as const) {
    const r = await post(path, { ...body, model: 'other-model' });
    t.equal(r.status, 404, path);
    t.match(r.body, { error: { type: 'not_found_error', code: 'model_not_found', param: 'model' } }, `${path}: an OpenAI error`);
    t.match((r.body as { error: { message: string } }).error.message, /other-model/, `${path}: names the model asked for`);
  }
});

t.test('/tokenize with messages renders the chat template', async (t) => {
  const messages = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'hi there' },
  ];
  const tk = h.engine.tokenizer;
  const withPrompt = tk.encode(tk.applyChatTemplate(messages, { addGenerationPrompt: true }), false);
  const without = tk.encode(tk.applyChatTemplate(messages, { addGenerationPrompt: false }), false);
  t.not(withPrompt.length, without.length, 'the generation prompt adds tokens');
  const r = await post('/tokenize', { messages });
  t.same(r, { status: 200, body: { count: withPrompt.length, max_model_len: h.engine.model.maxModelLen, tokens: withPrompt } }, 'with the generation prompt by default');
  t.same(await tokens({ messages, add_generation_prompt: false }), without, 'add_generation_prompt: false leaves it out');
  t.notSame(await tokens({ prompt: 'hi there' }), withPrompt, 'not the plain prompt\'s ids');
  const badRole = await post('/tokenize', { messages: [{ role: 'wizard', content: 'x' }] });
  t.equal(badRole.status, 400, 'a role the template does not know');
  t.match(badRole.body, { error: { code: 'invalid_request', param: 'messages.0.role' } });
});

t.test('/tokenize with neither prompt nor messages is a 400 naming prompt', async (t) => {
  const r = await post('/tokenize', { model: 'fake-model' });
  t.equal(r.status, 400);
  t.match(r.body, { error: { type: 'invalid_request_error', code: 'invalid_request', param: 'prompt', message: 'Either prompt or messages is required.' } });
});

t.test('llama.cpp\'s /apply-template: the rendered prompt as text; tools and kwargs reach the template as on chat', async (t) => {
  const messages = [{ role: 'user', content: 'hi there' }];
  const tk = h.engine.tokenizer;
  const r = await post('/apply-template', { messages });
  t.same(r, { status: 200, body: { prompt: tk.applyChatTemplate(messages, { addGenerationPrompt: true }) } }, 'with the generation prompt by default');
  t.same((await post('/apply-template', { messages, add_generation_prompt: false })).body, { prompt: tk.applyChatTemplate(messages, { addGenerationPrompt: false }) });
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const withTools = (await post('/apply-template', { messages, tools })).body as { prompt: string };
  t.match(withTools.prompt, /get_weather/, 'the tools are in the prompt (Qwen3\'s template lists them)');
  t.same((await post('/apply-template', { messages, tools, tool_choice: 'none' })).body, r.body, 'tool_choice "none": left out, as chat leaves them');
  const noThink = (await post('/apply-template', { messages, chat_template_kwargs: { enable_thinking: false } })).body as { prompt: string };
  t.match(noThink.prompt, /<think>\n\n<\/think>/, 'chat_template_kwargs reach the template (Qwen3\'s enable_thinking)');
  t.same(await tokens({ messages, tools }), tk.encode(withTools.prompt, false), '/tokenize with messages gets the same tools');
  const bad = await post('/apply-template', { messages: [] });
  t.match(bad, { status: 400, body: { error: { param: 'messages' } } }, 'no messages: a 400');
  t.match(await post('/apply-template', { model: 'other', messages }), { status: 404 }, 'another model\'s name: 404');
});

t.test('vLLM\'s /ping is /health: GET and POST', async (t) => {
  for (const method of ['GET', 'POST']) {
    const res = await fetch(`${h.url}/ping`, { method });
    t.equal(res.status, 200, method);
    t.same(await res.json(), { status: 'ready', model: h.engine.model.name });
  }
});
