// llama.cpp's own endpoint (POST /completion, and /completions) over the
// Qwen3 fixture: its fields and answer shape, its defaults, streamed as
// llama.cpp streams (data: lines, the last with stop: true, no [DONE]),
// n_probs, stop words, grammar, logit_bias pairs and seeds; the greedy text
// is /v1/completions' own.
import t from 'tap';
import { postJson, startLive } from './helpers.js';

interface Answer {
  content: string;
  tokens: number[];
  stop: boolean;
  stop_type: string;
  stopping_word: string;
  tokens_predicted: number;
  tokens_evaluated: number;
  model: string;
  prompt: string;
  generation_settings: Record<string, unknown>;
  timings: Record<string, number>;
  completion_probabilities?: { id: number; token: string; logprob: number; top_logprobs: { id: number; logprob: number }[] }[];
}

t.test('llama.cpp\'s /completion', async (t) => {
  const live = await startLive({ arch: 'qwen3' });
  t.teardown(() => live.close());
  const ask = async (body: object, path = '/completion'): Promise<Answer> => {
    const r = await postJson(live.url, path, { prompt: 'Hello there', ...body });
    t.equal(r.status, 200, `${path} ${JSON.stringify(body)}: ${r.status === 200 ? 'ok' : JSON.stringify(r.body)}`);
    return r.body as Answer;
  };
  const promptLen = ((await postJson(live.url, '/tokenize', { prompt: 'Hello there' })).body as { count: number }).count;

  const a = await ask({ n_predict: 6, temperature: 0, ignore_eos: true, return_tokens: true });
  t.match(a, { stop: true, stop_type: 'limit', stopping_word: '', tokens_predicted: 6, tokens_evaluated: promptLen, model: live.model, prompt: 'Hello there' });
  t.equal(a.tokens.length, 6, 'return_tokens: the ids');
  t.equal(live.engine.tokenizer.decode(a.tokens, true), a.content, 'which are the content');
  t.match(a.generation_settings, { temperature: 0, top_k: 40, top_p: 0.95, min_p: 0.05, repeat_penalty: 1, n_predict: 6 }, 'llama.cpp\'s defaults where not given');
  for (const k of ['prompt_n', 'prompt_ms', 'predicted_n', 'predicted_ms', 'predicted_per_second']) t.type(a.timings[k], 'number', `timings.${k}`);
  t.equal(a.timings.predicted_n, 6);
  const openai = await postJson(live.url, '/v1/completions', { model: live.model, prompt: 'Hello there', max_tokens: 6, temperature: 0, ignore_eos: true });
  t.equal((openai.body as { choices: { text: string }[] }).choices[0].text, a.content, 'greedy: the same text as /v1/completions');
  t.equal((await ask({ n_predict: 6, temperature: 0, ignore_eos: true }, '/completions')).content, a.content, '/completions is the same endpoint');
  t.same((await ask({ n_predict: 3, temperature: 0, ignore_eos: true })).tokens, [], 'no ids without return_tokens');
  t.equal((await ask({ max_tokens: 3, temperature: 0, ignore_eos: true })).tokens_predicted, 3, 'max_tokens where n_predict is not given, as llama.cpp reads it');
  const byIds = await ask({ prompt: a.tokens.slice(0, 2), n_predict: 2, temperature: 0, ignore_eos: true });
  t.equal(byIds.tokens_evaluated, 2, 'a prompt of token ids');

  // Streamed: data lines, each a piece with stop false, then the closing object; no [DONE].
  const res = await fetch(`${live.url}/completion`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hello there', n_predict: 6, temperature: 0, ignore_eos: true, stream: true }) });
  const raw = await res.text();
  const events = raw.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as Answer);
  t.notOk(raw.includes('[DONE]'), 'no [DONE]');
  t.ok(events.slice(0, -1).every((e) => !e.stop), 'pieces have stop false');
  t.match(events.at(-1), { stop: true, stop_type: 'limit', tokens_predicted: 6 });
  t.equal(events.map((e) => e.content).join(''), a.content, 'the pieces make the text');

  const probs = await ask({ n_predict: 4, temperature: 0, ignore_eos: true, n_probs: 2 });
  t.equal(probs.completion_probabilities?.length, 4);
  t.ok(probs.completion_probabilities?.every((p) => p.top_logprobs.length === 2 && p.top_logprobs[0].id === p.id && p.logprob <= 0), 'n_probs: the top 2 of each, the greedy pick first');

  // A stop word from the greedy text.
  const long = await ask({ n_predict: 12, temperature: 0, ignore_eos: true, return_tokens: true });
  const word = live.engine.tokenizer.decode([long.tokens[5]], true);
  const at = long.content.indexOf(word);
  if (word.trim() !== '' && at > 0) {
    const cut = await ask({ n_predict: 12, temperature: 0, ignore_eos: true, stop: [word] });
    t.match(cut, { stop_type: 'word', stopping_word: word, content: long.content.slice(0, at) }, `stopped at ${JSON.stringify(word)}`);
  }

  const yes = await ask({ n_predict: 8, grammar: 'root ::= "yes" | "no"' });
  t.match(yes, { content: /^(yes|no)$/, stop_type: 'eos' }, 'a GBNF grammar holds the text');

  // logit_bias: [id, false] bans, as do {id: -100} and a text's tokens.
  const first = long.tokens[0];
  const text = live.engine.tokenizer.decode([first], true);
  // As text only where the text is that one token again (a byte-level piece may not be).
  const asText = live.engine.tokenizer.encode(text, false).join() === String(first) ? [[[text, false]]] : [];
  for (const bias of [[[first, false]], { [first]: -100 }, ...asText]) {
    const b = await ask({ n_predict: 1, temperature: 0, ignore_eos: true, return_tokens: true, logit_bias: bias });
    t.not(b.tokens[0], first, `logit_bias ${JSON.stringify(bias)} banned the greedy first token`);
  }
  const hello = live.engine.tokenizer.encode(' Hello world', false);
  const pushed = await ask({ n_predict: 1, temperature: 0, return_tokens: true, logit_bias: [[' Hello world', 100]] });
  t.ok(hello.includes(pushed.tokens[0]), `a text's tokens all get the bias: ${pushed.tokens[0]} of ${hello.join(',')}`);
  const s1 = await ask({ n_predict: 6, temperature: 1, seed: 42, ignore_eos: true });
  const s2 = await ask({ n_predict: 6, temperature: 1, seed: 42, ignore_eos: true });
  t.equal(s1.content, s2.content, 'a seed repeats');

  for (const [body, param] of [[{ n_predict: 0 }, 'n_predict'], [{ logit_bias: [[1]] }, 'logit_bias'], [{ logit_bias: [[1, 'x']] }, 'logit_bias'], [{ prompt: [1e9] }, 'prompt'], [{ n_probs: 50 }, 'n_probs']] as const) {
    const r = await postJson(live.url, '/completion', { prompt: 'x', ...body });
    t.equal(r.status, 400, JSON.stringify(body));
    t.match(r.body, { error: { param } });
  }
  const props = (await (await fetch(`${live.url}/props`)).json()) as { default_generation_settings: { n_ctx: number; params: Record<string, unknown> }; total_slots: number; chat_template: string };
  t.equal(props.default_generation_settings.n_ctx, live.engine.model.maxModelLen, '/props: the context size');
  t.match(props.default_generation_settings.params, { temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05 }, 'and /completion\'s defaults');
  t.ok(props.chat_template.includes('<|im_start|>'), 'and the chat template');
  t.equal(props.total_slots, 256, 'slots: --max-num-seqs');
  // llama.cpp's /tokenize and /detokenize field names.
  const tok = (await postJson(live.url, '/tokenize', { content: 'Hello there' })).body as { tokens: number[] };
  t.same(tok.tokens, live.engine.tokenizer.encode('Hello there', false), '/tokenize {content}: no special tokens by default, as llama.cpp');
  t.match((await postJson(live.url, '/detokenize', { tokens: tok.tokens })).body, { content: 'Hello there', prompt: 'Hello there' });
  t.equal(live.engine.stats().numRunning + live.engine.stats().numWaiting, 0, 'nothing left running');
});
