// bad_words over HTTP (the scripted Qwen3 server, scripted.ts, whose
// forward notes every scripted token a step had banned): the words reach
// the step as Qwen3's tokens, with and without the leading space, on chat,
// completions and responses; bad input is a 400 naming the field.
import t from 'tap';
import { postJson } from './helpers.js';
import { startScripted } from './scripted.js';

t.test('the step bans the words\' tokens where the script would write them', async (t) => {
  const { url, writes, violations, tokenizer } = await startScripted(t);
  const cat = tokenizer.encode(' cat', false);
  t.equal(cat.length, 1, '" cat" is one Qwen3 token');
  const text = 'The cat sat on the mat.';
  for (const [path, body] of [
    ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 20, chat_template_kwargs: { enable_thinking: false } }],
    ['/v1/completions', { prompt: 'x', max_tokens: 20 }],
    ['/v1/responses', { input: 'x', max_output_tokens: 20 }],
  ] as const) {
    violations.length = 0;
    writes(text);
    const r = await postJson(url, path, { model: 'scripted', bad_words: ['cat'], ...body });
    t.equal(r.status, 200, `${path}: ${JSON.stringify(r.body).slice(0, 300)}`);
    t.same(violations, cat, `${path}: only " cat" was banned where the script wrote it`);
  }
  const bad = await postJson(url, '/v1/completions', { model: 'scripted', prompt: 'x', bad_words: ['   '] });
  t.equal(bad.status, 400);
  t.match(bad.body, { error: { param: 'bad_words', message: /is no token/ } });
  const guided = await postJson(url, '/v1/completions', { model: 'scripted', prompt: 'x', bad_words: ['cat'], response_format: { type: 'json_object' } });
  t.equal(guided.status, 400);
  t.match(guided.body, { error: { param: 'bad_words', message: /guided output/ } });
});
