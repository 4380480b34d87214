// vLLM's other two structured outputs through the real server and engine:
// a regular expression (guided_regex, structured_outputs.regex) and a
// structural tag (response_format type "structural_tag", legacy with
// structures + triggers or xgrammar's format; structured_outputs
// .structural_tag as JSON text); and llama.cpp's grammar / json_schema. A random-weight model held to each
// writes only what it allows, for a byte-level and a SentencePiece
// vocabulary. And the grammar library's refusals: a source xgrammar
// cannot take is a 400 with its reason, one that overflows its stack or
// spins is a 400 too, and none of them (not even hundreds) keeps later
// guided requests from being served (src/guided/grammar-check.ts).
import t from 'tap';
import { postJson, startLive, type Live, type LiveOptions } from './helpers.js';

type Completion = { choices: { index: number; text: string; finish_reason: string }[] };
type Failure = { error?: { param: string | null; message: string } };

const kinds: [string, LiveOptions][] = [
  ['qwen3 tokenizer.json (byte-level)', { arch: 'qwen3' }],
  ['llama2 from GGUF metadata (SentencePiece, byte fallback)', { arch: 'llama', format: 'gguf', tokenizer: 'llama2' }],
];

const COLOR = { type: 'object', properties: { color: { enum: ['red', 'blue'] } }, required: ['color'], additionalProperties: false };

for (const [name, opts] of kinds) {
  t.test(name, async (t) => {
    const live: Live = await startLive(opts);
    t.teardown(() => live.close());
    const base = { model: live.model, prompt: 'Code:', max_tokens: 60, temperature: 1 };
    const complete = async (extra: object): Promise<Completion> => {
      const r = await postJson(live.url, '/v1/completions', { ...base, ...extra });
      t.equal(r.status, 200, `200 for ${JSON.stringify(extra).slice(0, 80)}`);
      return r.body as Completion;
    };

    const re = await complete({ n: 4, seed: 1, guided_regex: '[a-c]{2,4}-[0-9]{2}' });
    for (const c of re.choices) {
      t.match(c.text, /^[a-c]{2,4}-[0-9]{2}$/, `guided_regex ${c.index}: ${JSON.stringify(c.text)}`);
      t.equal(c.finish_reason, 'stop', 'ends with EOS once the match is complete');
    }
    const again = await complete({ n: 4, seed: 1, guided_regex: '[a-c]{2,4}-[0-9]{2}' });
    t.same(again.choices.map((c) => c.text), re.choices.map((c) => c.text), 'a seeded regex request is reproducible');

    // xgrammar's form: a fixed prefix, then one of two words (a JSON schema
    // here would allow any run of whitespace: xgrammar's default in a tag).
    const tagged = await complete({ n: 3, seed: 2, response_format: { type: 'structural_tag', format: { type: 'sequence', elements: [{ type: 'const_string', value: 'Answer: ' }, { type: 'regex', pattern: '(red|blue)' }] } } });
    for (const c of tagged.choices) {
      t.match(c.text, /^Answer: (red|blue)$/, `structural tag ${c.index}: ${JSON.stringify(c.text)}`);
      t.equal(c.finish_reason, 'stop');
    }

    // The legacy form: free text until the trigger "a", which must open
    // "a=" + JSON of the schema + ";". A random model rarely completes a
    // trigger (xgrammar bans tokens that would run past it), so what is
    // checked is the free text: without the grammar "a" is common in it.
    const legacy = { type: 'structural_tag', structures: [{ begin: 'a=', schema: COLOR, end: ';' }], triggers: ['a'] };
    const free = await complete({ n: 4, seed: 3, max_tokens: 80, response_format: legacy });
    const unguided = await complete({ n: 4, seed: 3, max_tokens: 80 });
    t.ok(unguided.choices.some((c) => c.text.includes('a')), 'unguided, the same request writes "a"');
    for (const c of free.choices) {
      const outside = c.text.replace(/a=(\{[^;]*\});/g, (_, json: string) => {
        t.same(Object.keys(JSON.parse(json) as object), ['color'], `a tag's body is JSON of its schema: ${json}`);
        return '';
      });
      // The text may stop inside a tag at max_tokens: only what precedes an unclosed "a=" is free text.
      const open = outside.indexOf('a=');
      t.notOk((open === -1 ? outside : outside.slice(0, open)).includes('a'), `no "a" outside a tag in choice ${c.index}: ${JSON.stringify(c.text.slice(0, 120))}`);
    }
    // The current form can insist on a tag: triggered_tags with at_least_one.
    const must = await complete({ n: 3, seed: 4, max_tokens: 80, response_format: { type: 'structural_tag', format: { type: 'triggered_tags', triggers: ['<c'], tags: [{ type: 'tag', begin: '<c>', content: { type: 'regex', pattern: '(red|blue)' }, end: '</c>' }], at_least_one: true, stop_after_first: true } } });
    for (const c of must.choices) {
      t.match(c.text, /<c>(red|blue)<\/c>$/, `triggered_tags, at least one: ${JSON.stringify(c.text.slice(-60))}`);
      t.equal(c.finish_reason, 'stop', 'and it stops after the first');
    }
  });
}

t.test('chat, streams, the other fields, errors and the library staying up', async (t) => {
  // No reasoning parser: under one the output is held only after a
  // </think>, and a random model that opens <think> may think to max_tokens.
  const live = await startLive({ arch: 'qwen3', config: { reasoningParser: 'none' } });
  t.teardown(() => live.close());
  const chat = { model: live.model, messages: [{ role: 'user', content: 'A code?' }], max_tokens: 40, temperature: 1, seed: 5 };

  const streamed = await live.client.chat.completions.create({ ...chat, stream: true, structured_outputs: { regex: 'x[0-9]{3}y' } } as never);
  let text = '';
  for await (const chunk of streamed as unknown as AsyncIterable<{ choices: { delta: { content?: string } }[] }>) text += chunk.choices[0]?.delta.content ?? '';
  t.match(text, /^x[0-9]{3}y$/, `structured_outputs.regex, chat, streamed: ${JSON.stringify(text)}`);

  const asText = await postJson(live.url, '/v1/chat/completions', { ...chat, structured_outputs: { structural_tag: JSON.stringify({ type: 'structural_tag', format: { type: 'const_string', value: 'fixed text' } }) } });
  t.equal((asText.body as { choices: { message: { content: string } }[] }).choices[0].message.content, 'fixed text', 'structured_outputs.structural_tag as JSON text');

  // llama.cpp's server's fields: grammar (GBNF) on chat, json_schema on completions; an empty grammar is none.
  const gbnf = await postJson(live.url, '/v1/chat/completions', { ...chat, grammar: 'root ::= answer "."\nanswer ::= "yes" | "no"' });
  t.match((gbnf.body as { choices: { message: { content: string } }[] }).choices[0].message.content, /^(yes|no)\.$/, 'grammar (llama.cpp\'s GBNF field) on chat');
  const js = await postJson(live.url, '/v1/completions', { model: live.model, prompt: 'c', max_tokens: 60, temperature: 1, seed: 7, json_schema: COLOR });
  t.same(Object.keys(JSON.parse((js.body as Completion).choices[0].text) as object), ['color'], 'json_schema (llama.cpp\'s field) on completions');
  const none = await postJson(live.url, '/v1/completions', { model: live.model, prompt: 'c', max_tokens: 3, grammar: '' });
  t.equal(none.status, 200, 'an empty grammar is none, as llama.cpp reads it');

  const post = async (body: object): Promise<{ status: number; body: Failure }> => {
    const r = await postJson(live.url, '/v1/completions', { model: live.model, prompt: 'hi', max_tokens: 4, ...body });
    return { status: r.status, body: r.body as Failure };
  };
  const bad: [string, object, string, RegExp][] = [
    ['a regex that does not parse', { guided_regex: '(a|b' }, 'guided_regex', /^the regular expression cannot be used: Regex parsing error at position 5: The parenthesis is not closed\.$/],
    ['a regex with lookahead', { structured_outputs: { regex: '(?=a)b' } }, 'structured_outputs', /Lookahead is not supported/],
    ['an empty regex', { guided_regex: '' }, 'guided_regex', /non-empty string/],
    ['a regex nested past the stack', { guided_regex: '('.repeat(300) + 'a' + ')'.repeat(300) }, 'guided_regex', /nested too deeply for xgrammar/],
    ['a grammar nested past the stack', { guided_grammar: `root ::= ${'('.repeat(1000)}"a"${')'.repeat(1000)}` }, 'guided_grammar', /nested too deeply for xgrammar|did not compile within 5 s/],
    ['a regex that spins or overflows', { guided_regex: '('.repeat(1000) + 'a' + ')'.repeat(1000) }, 'guided_regex', /did not compile within 5 s|nested too deeply for xgrammar/],
    ['a structural tag of an unknown part', { response_format: { type: 'structural_tag', format: { type: 'nope' } } }, 'response_format', /the structural tag cannot be used: xgrammar refused it/],
    ['a structural tag with neither form', { response_format: { type: 'structural_tag' } }, 'response_format', /"structures" and "triggers", or a "format" object/],
    ['legacy structures without triggers', { response_format: { type: 'structural_tag', structures: [{ begin: '<f>', schema: {}, end: '</f>' }] } }, 'response_format', /triggers must be/],
    ['a begin no trigger starts', { response_format: { type: 'structural_tag', structures: [{ begin: '<f>', schema: {}, end: '</f>' }], triggers: ['<g'] } }, 'response_format', /must start with one of the triggers/],
    ['structural_tag text that is not JSON', { structured_outputs: { structural_tag: '{' } }, 'structured_outputs.structural_tag', /not JSON/],
    ['regex and choice at once', { structured_outputs: { regex: 'a', choice: ['a'] } }, 'structured_outputs', /takes one of json, json_object, choice, grammar, regex, structural_tag; got 2/],
    ['guided_regex beside response_format', { guided_regex: 'a', response_format: { type: 'json_object' } }, 'guided_regex', /Only one of .*got response_format, guided_regex/],
    ['grammar beside json_schema', { grammar: 'root ::= "a"', json_schema: {} }, 'json_schema', /Only one of .*got grammar, json_schema/],
    ['a GBNF grammar that does not parse', { grammar: 'root ::= "a' }, 'grammar', /^the grammar cannot be used: /],
    ['json_schema that is not a schema', { json_schema: 3 }, 'json_schema', /must be a JSON Schema/],
  ];
  for (const [what, body, param, message] of bad) {
    const r = await post(body);
    t.equal(r.status, 400, `${what}: 400`);
    t.equal(r.body.error?.param, param, `${what}: names ${param}`);
    t.match(r.body.error?.message ?? '', message, `${what}: ${r.body.error?.message ?? ''}`);
  }
  // Without the checker, one overflow above (or ~250 refusals) left
  // xgrammar failing every later compile with "memory access out of
  // bounds"; 100 more retire the checker's worker three times over.
  for (let i = 0; i < 100; i++) {
    const r = await post({ guided_grammar: `root ::= ( "${i}"` });
    if (r.status !== 400) t.fail(`bad grammar ${i}: ${r.status}`);
  }
  const after = await postJson(live.url, '/v1/completions', { model: live.model, prompt: 'z', max_tokens: 20, temperature: 1, seed: 6, n: 2, guided_regex: '(ab|cd)+!' });
  t.equal(after.status, 200, 'a regex after the overflows and 100 refused grammars');
  for (const c of (after.body as Completion).choices) t.match(c.text, /^(ab|cd)+!$|^(ab|cd)+$/, `still held: ${JSON.stringify(c.text)}`);
  const json = await live.client.chat.completions.create({ ...chat, max_tokens: 60, response_format: { type: 'json_schema', json_schema: { name: 'c', schema: COLOR } } } as never);
  t.same(Object.keys(JSON.parse(json.choices[0].message.content ?? '') as object), ['color'], 'a JSON schema after them too');
  t.equal(live.engine.stats().numRunning + live.engine.stats().numWaiting, 0, 'nothing left in the engine');
});
