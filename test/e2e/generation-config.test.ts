// The model's generation-config defaults (ModelInfo.samplingDefaults, from
// --generation-config / --override-generation-config) on every route, over
// the Qwen3 fixture: a request that leaves temperature unset samples
// greedily under {"temperature": 0}; one that sets it is sampled as asked;
// max_new_tokens is chat's, responses' default length, not completions'
// (OpenAI's 16 stays) and never past the context.
import t from 'tap';
import { postJson, startLive } from './helpers.js';

t.test('unset fields take the model\'s defaults; set ones win', async (t) => {
  const live = await startLive({ arch: 'qwen3', engine: { samplingDefaults: { temperature: 0, maxTokens: 5 } }, config: { reasoningParser: 'none' } });
  t.teardown(() => live.close());
  const chat = (extra: object) => postJson(live.url, '/v1/chat/completions', { model: live.model, messages: [{ role: 'user', content: 'Name a colour.' }], ignore_eos: true, ...extra });
  type Chat = { choices: { message: { content: string } }[]; usage: { completion_tokens: number } };
  const a = (await chat({})).body as Chat;
  const b = (await chat({})).body as Chat;
  t.equal(a.usage.completion_tokens, 5, 'max_new_tokens is chat\'s length');
  t.equal(a.choices[0].message.content, b.choices[0].message.content, 'temperature 0 from the model: greedy, the same twice');
  const greedy = (await chat({ temperature: 0 })).body as Chat;
  t.equal(greedy.choices[0].message.content, a.choices[0].message.content, 'the same as asking for temperature 0');
  const hot = await Promise.all([1, 2, 3].map(async (seed) => ((await chat({ temperature: 1, seed })).body as Chat).choices[0].message.content));
  t.ok(new Set(hot).size > 1, `a request's own temperature wins: seeded runs differ (${JSON.stringify(hot)})`);
  t.equal(((await chat({ max_tokens: 2 })).body as Chat).usage.completion_tokens, 2, 'a request\'s own max_tokens wins');

  const comp = await postJson(live.url, '/v1/completions', { model: live.model, prompt: 'Colours:', ignore_eos: true });
  t.equal((comp.body as Chat).usage.completion_tokens, 16, 'completions keep OpenAI\'s default of 16');
  const resp = await postJson(live.url, '/v1/responses', { model: live.model, input: 'Name a colour.', ignore_eos: true });
  t.equal((resp.body as { usage: { output_tokens: number } }).usage.output_tokens, 5, 'responses take max_new_tokens too');
});

t.test('max_new_tokens past the context is cut to the room left', async (t) => {
  const live = await startLive({ arch: 'qwen3', engine: { samplingDefaults: { maxTokens: 100_000 } }, config: { reasoningParser: 'none' } });
  t.teardown(() => live.close());
  const r = await postJson(live.url, '/v1/chat/completions', { model: live.model, messages: [{ role: 'user', content: 'hi' }], temperature: 0, ignore_eos: true });
  t.equal(r.status, 200);
  const u = (r.body as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
  t.equal(u.prompt_tokens + u.completion_tokens, 256, 'prompt + output fill the 256-token context');
});
