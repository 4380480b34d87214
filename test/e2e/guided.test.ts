// response_format through the real server and engine (grammar-guided
// decoding, src/guided/): a random-weight model held to a JSON schema
// produces JSON of that schema and stops; json_object starts an object and,
// where it stops, is one; the three tokenizer kinds (byte-level from
// tokenizer.json and from GGUF metadata, SentencePiece with byte fallback);
// streams, n > 1, /v1/completions; unguided requests beside guided ones
// keep their tokens; bad formats are 400s and the server keeps serving.
import t, { type Test } from 'tap';
import { startLive, type Live, type LiveOptions } from './helpers.js';

const SCHEMA = {
  type: 'object',
  properties: { color: { enum: ['red', 'green', 'blue'] }, ok: { type: 'boolean' }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 2 } },
  required: ['color', 'ok', 'tags'],
  additionalProperties: false,
};
const jsonSchema = { type: 'json_schema' as const, json_schema: { name: 'answer', schema: SCHEMA } };

function checkAnswer(t: Test, text: string, what: string): void {
  let v: unknown;
  t.doesNotThrow(() => { v = JSON.parse(text); }, `${what}: the text is JSON (${JSON.stringify(text.slice(0, 80))})`);
  const o = v as { color?: unknown; ok?: unknown; tags?: unknown };
  t.same(Object.keys(o).sort(), ['color', 'ok', 'tags'], `${what}: exactly the schema's properties`);
  t.ok(['red', 'green', 'blue'].includes(o.color as string), `${what}: color from the enum`);
  t.equal(typeof o.ok, 'boolean', `${what}: ok is a boolean`);
  t.ok(Array.isArray(o.tags) && o.tags.length <= 2 && o.tags.every((x) => x === 'a' || x === 'b'), `${what}: tags as the schema says`);
}

const kinds: [string, LiveOptions][] = [
  ['qwen3 tokenizer.json (byte-level)', { arch: 'qwen3' }],
  ['llama3 from GGUF metadata (byte-level)', { arch: 'llama', format: 'gguf' }],
  ['llama2 from GGUF metadata (SentencePiece, byte fallback)', { arch: 'llama', format: 'gguf', tokenizer: 'llama2' }],
];

for (const [name, opts] of kinds) {
  t.test(name, async (t) => {
    const live: Live = await startLive(opts);
    t.teardown(() => live.close());
    const base = { model: live.model, prompt: 'The answer:', max_tokens: 200 };

    const greedy = await live.client.completions.create({ ...base, temperature: 0, response_format: jsonSchema } as never);
    t.equal(greedy.choices[0].finish_reason, 'stop', 'greedy: the grammar ends it (EOS once the object is complete)');
    checkAnswer(t, greedy.choices[0].text, 'greedy');

    const sampled = await live.client.completions.create({ ...base, temperature: 1, seed: 11, n: 3, response_format: jsonSchema } as never);
    t.equal(sampled.choices.length, 3);
    for (const c of sampled.choices) {
      t.equal(c.finish_reason, 'stop', `choice ${c.index} stops`);
      checkAnswer(t, c.text, `sampled choice ${c.index}`);
    }
    const again = await live.client.completions.create({ ...base, temperature: 1, seed: 11, n: 3, response_format: jsonSchema } as never);
    t.same(again.choices.map((c) => c.text), sampled.choices.map((c) => c.text), 'a seeded guided request is reproducible');

    const stream = await live.client.completions.create({ ...base, temperature: 1, seed: 5, stream: true, response_format: jsonSchema } as never);
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream as unknown as AsyncIterable<{ choices: { text: string; finish_reason: string | null }[] }>) {
      for (const c of chunk.choices) {
        text += c.text;
        finish = c.finish_reason ?? finish;
      }
    }
    t.equal(finish, 'stop', 'stream: stops');
    checkAnswer(t, text, 'stream');

    const obj = await live.client.completions.create({ ...base, max_tokens: 40, temperature: 1, seed: 2, n: 4, response_format: { type: 'json_object' } } as never);
    for (const c of obj.choices) {
      t.match(c.text, /^\s*\{/, `json_object choice ${c.index} opens an object`);
      if (c.finish_reason === 'stop') t.equal(typeof JSON.parse(c.text), 'object', `json_object choice ${c.index} is an object where it stopped`);
    }
    const free = await live.client.completions.create({ ...base, max_tokens: 40, temperature: 1, seed: 2, n: 4 } as never);
    t.notOk(free.choices.every((c) => /^\s*\{/.test(c.text)), 'without response_format the same request is not held to JSON');

    // vLLM's fields: a choice, and a grammar (EBNF).
    const choices = ['yes', 'no', 'not sure', 'Ünïcödé 🙂'];
    const picked = await live.client.completions.create({ ...base, temperature: 1.5, seed: 9, n: 8, guided_choice: choices } as never);
    for (const c of picked.choices) {
      t.ok(choices.includes(c.text), `guided_choice ${c.index}: ${JSON.stringify(c.text)} is one of the choices`);
      t.equal(c.finish_reason, 'stop');
    }
    // Bounded: a random model left inside a "+" repeats until max_tokens.
    const g = await live.client.completions.create({ ...base, temperature: 1, seed: 3, n: 4, guided_grammar: 'root ::= "A" ab ab? "D"\nab ::= "B" | "CC"' } as never);
    for (const c of g.choices) {
      t.match(c.text, /^A(B|CC){1,2}D$/, `guided_grammar ${c.index}: ${JSON.stringify(c.text)}`);
      t.equal(c.finish_reason, 'stop');
    }
  });
}

t.test('chat, unguided neighbours, errors', async (t) => {
  const live = await startLive({ arch: 'qwen3' });
  t.teardown(() => live.close());
  const chatBody = {
    model: live.model,
    messages: [{ role: 'user' as const, content: 'Pick a color.' }],
    max_completion_tokens: 200,
    temperature: 0.8,
    seed: 4,
    response_format: jsonSchema,
  };
  const chat = await live.client.chat.completions.create(chatBody);
  t.equal(chat.choices[0].finish_reason, 'stop', 'chat: stops');
  checkAnswer(t, chat.choices[0].message.content ?? '', 'chat');
  const base = { model: live.model, prompt: 'Once', max_tokens: 24, temperature: 0, ignore_eos: true } as const;

  // Unguided greedy alone, then beside guided requests (which force one step a call).
  const alone = (await live.client.completions.create(base as never)).choices[0].text;
  const [beside] = await Promise.all([
    live.client.completions.create(base as never),
    live.client.completions.create({ model: live.model, prompt: 'x', max_tokens: 200, temperature: 1, seed: 1, response_format: jsonSchema } as never),
    live.client.completions.create({ model: live.model, prompt: 'y', max_tokens: 30, temperature: 1, seed: 2, response_format: { type: 'json_object' } } as never),
  ]);
  t.equal(beside.choices[0].text, alone, 'an unguided request makes the same tokens beside guided ones');

  const post = async (path: string, body: object): Promise<{ status: number; body: { error?: { param: string | null; message: string } } }> => {
    const res = await fetch(`${live.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as never };
  };
  const bad: [string, object, string][] = [
    ['an unknown type', { response_format: { type: 'xml' } }, 'response_format'],
    ['json_schema without a schema', { response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, 'response_format'],
    ['a schema that is not an object', { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: 'object' } } }, 'response_format'],
    ['a schema xgrammar cannot compile', { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'nonsense' } } } }, 'response_format'],
    ['with min_tokens', { response_format: { type: 'json_object' }, min_tokens: 3 }, 'min_tokens'],
    ['with ignore_eos', { response_format: { type: 'json_object' }, ignore_eos: true }, 'ignore_eos'],
  ];
  for (const [what, extra, param] of bad) {
    const r = await post('/v1/completions', { model: live.model, prompt: 'hi', max_tokens: 4, ...extra });
    t.equal(r.status, 400, `${what}: 400`);
    t.equal(r.body.error?.param, param, `${what}: names ${param} (${r.body.error?.message ?? ''})`);
  }
  const why = await post('/v1/completions', { model: live.model, prompt: 'hi', max_tokens: 4, ...bad[3][1] });
  t.equal(why.body.error?.message, 'the JSON schema cannot be used: Unsupported type "nonsense".', "the library's reason, not its abort");
  t.equal(live.engine.stats().numRunning + live.engine.stats().numWaiting, 0, 'nothing left in the engine');

  // After a schema that failed to compile, the grammar library still serves.
  const ok = await live.client.completions.create({ model: live.model, prompt: 'z', max_tokens: 200, temperature: 0, response_format: jsonSchema } as never);
  checkAnswer(t, ok.choices[0].text, 'after the failed schema');
  // vLLM's fields, old and new.
  const asJson = await post('/v1/completions', { model: live.model, prompt: 'q', max_tokens: 200, temperature: 0, guided_json: JSON.stringify(SCHEMA) });
  checkAnswer(t, (asJson.body as { choices: { text: string }[] }).choices[0].text, 'guided_json as a string');
  const so = await post('/v1/completions', { model: live.model, prompt: 'q', max_tokens: 200, temperature: 0, structured_outputs: { json: SCHEMA } });
  checkAnswer(t, (so.body as { choices: { text: string }[] }).choices[0].text, 'structured_outputs.json');
  const soChoice = await post('/v1/chat/completions', { model: live.model, messages: [{ role: 'user', content: 'ok?' }], max_tokens: 20, structured_outputs: { choice: ['up', 'down'] } });
  t.ok(['up', 'down'].includes((soChoice.body as { choices: { message: { content: string } }[] }).choices[0].message.content), 'structured_outputs.choice (chat)');
  const vllmBad: [string, object, string, RegExp][] = [
    ['two ways at once', { guided_choice: ['a'], response_format: { type: 'json_object' } }, 'guided_choice', /Only one of .*got response_format, guided_choice/],
    ['an empty choice list', { guided_choice: [] }, 'guided_choice', /non-empty list/],
    ['guided_json not JSON', { guided_json: '{nope' }, 'guided_json', /not JSON/],
    ['a grammar that does not parse', { guided_grammar: 'root ::= (' }, 'guided_grammar', /the grammar cannot be used: .+/],
  ];
  for (const [what, extra, param, message] of vllmBad) {
    const r = await post('/v1/completions', { model: live.model, prompt: 'hi', max_tokens: 4, ...extra });
    t.equal(r.status, 400, `${what}: 400`);
    t.equal(r.body.error?.param, param, `${what}: names ${param}`);
    t.match(r.body.error?.message ?? '', message, `${what}: ${r.body.error?.message ?? ''}`);
  }
  const text = await post('/v1/completions', { model: live.model, prompt: 'hi', max_tokens: 2, response_format: { type: 'text' } });
  t.equal(text.status, 200, 'response_format text is served as before');
});
