// Fill-in-the-middle over the Qwen3 fixture (its vocabulary has
// <|fim_prefix|>, <|fim_suffix|>, <|fim_middle|>): OpenAI's `suffix` on
// /v1/completions and llama.cpp's /infill run exactly the prompt
// <pre> prefix <suf> suffix <mid> (the same greedy text as those ids sent
// directly); a model without FIM tokens (the Llama 3 fixture), token-id
// prompts and echo are 400s naming the field.
import t from 'tap';
import { postJson, startLive } from './helpers.js';

const PREFIX = 'def add(a, b):\n    ';
const SUFFIX = '\n\nprint(add(1, 2))\n';

t.test('suffix and /infill build the FIM prompt', async (t) => {
  const live = await startLive({ arch: 'qwen3' });
  t.teardown(() => live.close());
  const tok = live.engine.tokenizer;
  const [pre, suf, mid] = ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>'].map((m) => tok.encode(m, false));
  const ids = [...pre, ...tok.encode(PREFIX, false), ...suf, ...tok.encode(SUFFIX, false), ...mid];
  const complete = async (body: object) => (await postJson(live.url, '/v1/completions', { model: live.model, max_tokens: 6, temperature: 0, ignore_eos: true, ...body })).body as { choices: { text: string }[]; usage: { prompt_tokens: number } };
  const direct = await complete({ prompt: ids });
  const fim = await complete({ prompt: PREFIX, suffix: SUFFIX });
  t.equal(fim.usage.prompt_tokens, ids.length, 'the prompt is <pre> prefix <suf> suffix <mid>');
  t.equal(fim.choices[0].text, direct.choices[0].text, 'and runs as those ids do');
  const two = await complete({ prompt: [PREFIX, 'x = '], suffix: SUFFIX });
  t.equal(two.choices.length, 2, 'each prompt of a list gets the suffix');

  const infill = await postJson(live.url, '/infill', { input_prefix: PREFIX, input_suffix: SUFFIX, n_predict: 6, temperature: 0, ignore_eos: true });
  t.equal(infill.status, 200);
  t.match(infill.body, { content: direct.choices[0].text, tokens_evaluated: ids.length }, '/infill: the same prompt and text');
  const started = await postJson(live.url, '/infill', { input_prefix: PREFIX, input_suffix: SUFFIX, prompt: 'return', n_predict: 2, temperature: 0, ignore_eos: true });
  t.match(started.body, { tokens_evaluated: ids.length + tok.encode('return', false).length }, '/infill: prompt starts the middle');

  for (const [path, body, param] of [
    ['/v1/completions', { prompt: [1, 2, 3], suffix: SUFFIX }, 'suffix'],
    ['/v1/completions', { prompt: PREFIX, suffix: SUFFIX, echo: true }, 'echo'],
    ['/infill', { input_prefix: PREFIX, input_extra: [{ filename: 'a.py', text: 'x = 1' }] }, 'input_extra'],
  ] as const) {
    const r = await postJson(live.url, path, { model: live.model, ...body });
    t.equal(r.status, 400, `${path} ${JSON.stringify(body).slice(0, 60)}`);
    t.match(r.body, { error: { param } });
  }
});

t.test('a vocabulary without FIM tokens: suffix and /infill are 400s', async (t) => {
  const live = await startLive({ arch: 'llama' });
  t.teardown(() => live.close());
  const a = await postJson(live.url, '/v1/completions', { model: live.model, prompt: PREFIX, suffix: SUFFIX, max_tokens: 2 });
  t.equal(a.status, 400);
  t.match(a.body, { error: { param: 'suffix', message: /needs a model with FIM tokens \(<\|fim_prefix\|>/ } });
  const b = await postJson(live.url, '/infill', { input_prefix: PREFIX, input_suffix: SUFFIX });
  t.equal(b.status, 400);
  t.match(b.body, { error: { param: 'input_prefix', message: /\/infill needs a model with FIM tokens/ } });
});
