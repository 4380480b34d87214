// The qwen3_coder, deepseek_v3 and deepseek_v31 tool-call parsers on exact
// texts: what is a call, how qwen3_coder types its arguments by the tools'
// schemas (vLLM's rules), what stays content, that a stream cut anywhere
// reads the same calls and content as the whole text, and that the chat
// template picks them.
import t, { type Test } from 'tap';
import { pickToolParser } from '../../src/server/app.js';
import { readChatText } from '../../src/server/chat-output.js';
import { detectToolParser, toolReader, type ToolParserName, type ToolSchema } from '../../src/server/tool-parsers.js';

type Want = { content: string | null; calls: [string, string][] };

const TOOLS: ToolSchema[] = [
  {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' }, hourly: { type: 'boolean' } } },
  },
];

const calls = (parser: ToolParserName, text: string, tools: ToolSchema[] = TOOLS): Want => {
  const r = readChatText({ reasoning: null, tools: parser, toolSchemas: tools }, text);
  return { content: r.content, calls: r.calls.map((c) => [c.function.name, c.function.arguments]) };
};

/** The text fed in the given pieces: the concatenated content and the calls. */
function streamed(parser: ToolParserName, pieces: string[]): Want {
  const r = toolReader(parser, TOOLS);
  let content = '';
  const out: [string, string][] = [];
  for (const read of [...pieces.map((p) => r.push(p)), r.end()]) {
    content += read.content;
    out.push(...read.calls.map((c): [string, string] => [c.function.name, c.function.arguments]));
  }
  return { content: out.length > 0 && content === '' ? null : content, calls: out };
}

const chunks = (text: string, size: number): string[] => Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));

/** Whole, in pieces of a few sizes, and cut in two at every character: the same reading. */
function check(t: Test, parser: ToolParserName, cases: [string, string, Want][]): void {
  for (const [name, text, want] of cases) {
    t.same(calls(parser, text), want, name);
    for (const size of [1, 2, 3, 7]) t.same(streamed(parser, chunks(text, size)), want, `${name}, streamed ${size} chars at a time`);
    const bad = Array.from({ length: text.length + 1 }, (_, i) => i).filter((i) => JSON.stringify(streamed(parser, [text.slice(0, i), text.slice(i)])) !== JSON.stringify(want));
    t.same(bad, [], `${name}, cut in two anywhere`);
  }
}

const q = (fn: string, ...params: [string, string][]): string => `<tool_call>\n<function=${fn}>\n${params.map(([k, v]) => `<parameter=${k}>\n${v}\n</parameter>\n`).join('')}</function>\n</tool_call>`;

const QWEN: [string, string, Want][] = [
  ['plain text', 'It is sunny.', { content: 'It is sunny.', calls: [] }],
  ['one call after text, typed by the schema', `Let me look.\n${q('get_weather', ['city', 'Oslo'], ['days', '3'], ['hourly', 'true'])}`, { content: 'Let me look.\n', calls: [['get_weather', '{"city":"Oslo","days":3,"hourly":true}']] }],
  [
    'two calls, whitespace between dropped; a function not among the tools gets strings',
    `${q('get_weather', ['city', 'Oslo'])}\n${q('search', ['q', '42'])}\n`,
    { content: null, calls: [['get_weather', '{"city":"Oslo"}'], ['search', '{"q":"42"}']] },
  ],
  ['only one newline each side of a value is the format', q('get_weather', ['city', '\nOslo,\n  Norway\n']), { content: null, calls: [['get_weather', '{"city":"\\nOslo,\\n  Norway\\n"}']] }],
  [
    'a value may hold the tags themselves (code)',
    q('write', ['code', 'x = "</tool_call>"\ny = "</parameter> <function=f>"'], ['path', 'a.py']),
    { content: null, calls: [['write', '{"code":"x = \\"</tool_call>\\"\\ny = \\"</parameter> <function=f>\\"","path":"a.py"}']] },
  ],
  ['no parameters', '<tool_call>\n<function=now>\n</function>\n</tool_call>', { content: null, calls: [['now', '{}']] }],
  ['on one line', '<tool_call><function=get_weather><parameter=days>2</parameter></function></tool_call>', { content: null, calls: [['get_weather', '{"days":2}']] }],
  ['a left-out </parameter> ends at the next parameter (as vLLM)', '<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n<parameter=days>\n3\n</function>\n</tool_call>', { content: null, calls: [['get_weather', '{"city":"Oslo","days":3}']] }],
  ['a repeated parameter: its last value', q('get_weather', ['days', '1'], ['city', 'Oslo'], ['days', '2']), { content: null, calls: [['get_weather', '{"days":2,"city":"Oslo"}']] }],
  ['text after the calls is content', `${q('now')}\nDone.`, { content: '\nDone.', calls: [['now', '{}']] }],
  ['a hermes JSON block is not a call: text', 'Hm <tool_call>{"name": "now"}</tool_call> ok', { content: 'Hm <tool_call>{"name": "now"}</tool_call> ok', calls: [] }],
  ['a template left in the name is not a call', '<tool_call>\n<function={{ name }}>\n</function>\n</tool_call>', { content: '<tool_call>\n<function={{ name }}>\n</function>\n</tool_call>', calls: [] }],
  ['other text between parameters is not a call', '<tool_call>\n<function=a>\nhi\n</function>\n</tool_call>', { content: '<tool_call>\n<function=a>\nhi\n</function>\n</tool_call>', calls: [] }],
  ['an open block with a whole function is a call', '<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n', { content: null, calls: [['get_weather', '{"city":"Oslo"}']] }],
  ['an open block cut short stays text', 'x<tool_call>\n<function=get_weather>\n<parameter=city>\nOs', { content: 'x<tool_call>\n<function=get_weather>\n<parameter=city>\nOs', calls: [] }],
  ['a tag-like word is text', 'use <tool_cal> and <tool', { content: 'use <tool_cal> and <tool', calls: [] }],
  [
    'a left-out </function>: the </tool_call> after the last </parameter> closes the call (as vLLM), text after it is content',
    '<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</tool_call> then text',
    { content: ' then text', calls: [['f', '{"a":"1"}']] },
  ],
  [
    'a left-out </function> with no parameters, then a whole call',
    `<tool_call>\n<function=now>\n</tool_call>\n${q('get_weather', ['days', '2'])}`,
    { content: null, calls: [['now', '{}'], ['get_weather', '{"days":2}']] },
  ],
  [
    'a left-out </function>: a value may still hold a </tool_call>',
    '<tool_call>\n<function=write>\n<parameter=code>\nx = "</tool_call>"\n</parameter>\n</tool_call>\nDone.',
    { content: '\nDone.', calls: [['write', '{"code":"x = \\"</tool_call>\\""}']] },
  ],
  [
    'a </tool_call> inside a value with </function> after it still does not close the block',
    '<tool_call>\n<function=write>\n<parameter=code>\n</tool_call>\n</parameter>\n</function>\n</tool_call>',
    { content: null, calls: [['write', '{"code":"</tool_call>"}']] },
  ],
];

const S = '<｜tool▁calls▁begin｜>';
const E = '<｜tool▁calls▁end｜>';
const v3 = (fn: string, args: string): string => `<｜tool▁call▁begin｜>function<｜tool▁sep｜>${fn}\n\`\`\`json\n${args}\n\`\`\`<｜tool▁call▁end｜>`;
const v31 = (fn: string, args: string): string => `<｜tool▁call▁begin｜>${fn}<｜tool▁sep｜>${args}<｜tool▁call▁end｜>`;

const DEEPSEEK_V3: [string, string, Want][] = [
  ['plain text', 'It is sunny <｜tool', { content: 'It is sunny <｜tool', calls: [] }],
  ['one call after text', `Checking.${S}${v3('get_weather', '{"city": "Oslo"}')}${E}`, { content: 'Checking.', calls: [['get_weather', '{"city":"Oslo"}']] }],
  ['two calls, a newline between (R1\'s template)', `${S}${v3('get_weather', '{"city": "Oslo"}')}\n${v3('now', '{}')}${E}`, { content: null, calls: [['get_weather', '{"city":"Oslo"}'], ['now', '{}']] }],
  ['arguments across lines', `${S}${v3('get_weather', '{\n  "city": "Oslo",\n  "days": [1, 2]\n}')}${E}`, { content: null, calls: [['get_weather', '{"city":"Oslo","days":[1,2]}']] }],
  ['no closing section marker (the output ended)', `${S}${v3('now', '{}')}`, { content: null, calls: [['now', '{}']] }],
  ['text after the calls is content', `${S}${v3('now', '{}')}${E}\nDone.`, { content: '\nDone.', calls: [['now', '{}']] }],
  ['arguments that are not JSON: all text', `${S}${v3('a', '{"x": y}')}${E}`, { content: `${S}${v3('a', '{"x": y}')}${E}`, calls: [] }],
  ['a type other than function: text', `${S}<｜tool▁call▁begin｜>tool<｜tool▁sep｜>a\n\`\`\`json\n{}\n\`\`\`<｜tool▁call▁end｜>${E}`, { content: `${S}<｜tool▁call▁begin｜>tool<｜tool▁sep｜>a\n\`\`\`json\n{}\n\`\`\`<｜tool▁call▁end｜>${E}`, calls: [] }],
  ["V3.1's form is not V3's: text", `${S}${v31('a', '{}')}${E}`, { content: `${S}${v31('a', '{}')}${E}`, calls: [] }],
  ['a bad block before a good one stays text', `${S}${v3('a', 'nope')}${v3('b', '{}')}${E}`, { content: `${S}${v3('a', 'nope')}`, calls: [['b', '{}']] }],
  ['other text in the section ends it, as text', `${S} sorry`, { content: `${S} sorry`, calls: [] }],
  ['cut short: text', `Hm.${S}<｜tool▁call▁begin｜>function<｜tool▁sep｜>a\n\`\`\`json\n{"x"`, { content: `Hm.${S}<｜tool▁call▁begin｜>function<｜tool▁sep｜>a\n\`\`\`json\n{"x"`, calls: [] }],
];

const DEEPSEEK_V31: [string, string, Want][] = [
  ['one call after text', `Checking.${S}${v31('get_weather', '{"city": "Oslo"}')}${E}`, { content: 'Checking.', calls: [['get_weather', '{"city":"Oslo"}']] }],
  ['calls chained without separators', `${S}${v31('get_weather', '{"city": "Oslo"}')}${v31('now', '{}')}${E}`, { content: null, calls: [['get_weather', '{"city":"Oslo"}'], ['now', '{}']] }],
  ['arguments that are not an object: text', `${S}${v31('a', '[1]')}${E}`, { content: `${S}${v31('a', '[1]')}${E}`, calls: [] }],
  ["V3's form is not V3.1's: text", `${S}${v3('a', '{}')}${E}`, { content: `${S}${v3('a', '{}')}${E}`, calls: [] }],
];

t.test('qwen3_coder', (t) => {
  check(t, 'qwen3_coder', QWEN);
  t.end();
});

t.test('deepseek_v3', (t) => {
  check(t, 'deepseek_v3', DEEPSEEK_V3);
  t.end();
});

t.test('deepseek_v31', (t) => {
  check(t, 'deepseek_v31', DEEPSEEK_V31);
  t.end();
});

t.test("qwen3_coder types each value by its parameter's schema, as vLLM's _convert_param_value", (t) => {
  const as = (schema: unknown, raw: string): unknown => {
    const text = `<tool_call>\n<function=f>\n<parameter=x>\n${raw}\n</parameter>\n</function>\n</tool_call>`;
    const r = readChatText({ reasoning: null, tools: 'qwen3_coder', toolSchemas: [{ name: 'f', parameters: { type: 'object', properties: { x: schema } } }] }, text);
    return (JSON.parse(r.calls[0].function.arguments) as { x: unknown }).x;
  };
  const cases: [unknown, string, unknown][] = [
    [{ type: 'string' }, '3', '3'],
    [{ type: 'string' }, 'null', 'null'],
    [{ anyOf: [{ type: 'string' }, { type: 'null' }] }, 'None', null],
    [{ anyOf: [{ type: 'null' }, { type: 'integer' }] }, '7', 7],
    [{ type: 'integer' }, ' -12 ', -12],
    [{ type: 'integer' }, '1_000', 1000],
    [{ type: 'integer' }, '3.0', '3.0'],
    [{ type: 'integer' }, 'many', 'many'],
    [{ type: 'integer' }, 'null', null],
    [{ type: 'number' }, '2.5', 2.5],
    [{ type: 'number' }, '3.0', 3],
    [{ type: 'number' }, '1e3', 1000],
    [{ type: 'number' }, 'nan', 'nan'],
    [{ type: 'number' }, 'inf', 'inf'],
    [{ type: 'boolean' }, 'True', true],
    [{ type: 'boolean' }, 'false', false],
    [{ type: 'boolean' }, 'yes', false],
    [{ type: 'object' }, '{"a": [1, 2]}', { a: [1, 2] }],
    [{ type: 'object' }, "{'a': True, 'b': None}", { a: true, b: null }],
    [{ type: 'object' }, '"{\'a\': 1}"', { a: 1 }],
    [{ type: 'object' }, 'not json', 'not json'],
    [{ type: 'array' }, '["x", 1]', ['x', 1]],
    [{ type: 'array' }, '(1, 2)', [1, 2]],
    // A list of types is not a type name to vLLM: a Python literal, or the string.
    [{ type: ['string', 'null'] }, '3', 3],
    [{ type: ['string', 'null'] }, 'Oslo', 'Oslo'],
    [{ type: 'any' }, "['a']", ['a']],
    [{ description: 'no type' }, '3', '3'],
  ];
  for (const [schema, raw, want] of cases) t.same(as(schema, raw), want, `${JSON.stringify(schema)}: ${JSON.stringify(raw)}`);
  t.same(calls('qwen3_coder', q('get_weather', ['days', '3'], ['extra', '4'])).calls, [['get_weather', '{"days":3,"extra":"4"}']], 'a parameter the schema does not list: a string');
  t.same(calls('qwen3_coder', q('get_weather', ['days', '3']), []).calls, [['get_weather', '{"days":"3"}']], 'no tools given: strings');
  t.end();
});

t.test('content goes out as it comes, only what may open a call held back; each call when its block closes', (t) => {
  const qr = toolReader('qwen3_coder', TOOLS);
  t.same(qr.push('Sure, '), { content: 'Sure, ', calls: [] });
  t.same(qr.push('one <tool'), { content: 'one ', calls: [] }, 'the start of a tag is held');
  t.same(qr.push('_call>\n<function=get_weather>\n<parameter=days>\n2\n</parameter>\n</function>\n'), { content: '', calls: [] });
  const read = qr.push('</tool_call>');
  t.match(read.calls, [{ id: /^call_[0-9a-f]{24}$/, type: 'function', function: { name: 'get_weather', arguments: '{"days":2}' } }], 'the call when its block closes');
  t.same(qr.end(), { content: '', calls: [] });

  const lr = toolReader('qwen3_coder', TOOLS);
  t.same(lr.push('<tool_call>\n<function=get_weather>\n<parameter=days>\n2\n</parameter>\n').calls, []);
  t.same(
    lr.push('</tool_call>').calls.map((c) => c.function.arguments),
    ['{"days":2}'],
    'a call that left out </function> when its </tool_call> comes',
  );
  t.same(lr.push(' then text'), { content: ' then text', calls: [] }, 'and the text after it at once, not at the end');
  t.same(lr.end(), { content: '', calls: [] });

  const dr = toolReader('deepseek_v3');
  t.same(dr.push('Hi <｜tool▁calls'), { content: 'Hi ', calls: [] });
  t.same(dr.push(`▁begin｜>${v3('a', '{}')}`).calls.length, 1, 'a call when its block closes, before the section does');
  t.same(dr.push(`\n${v3('b', '{"k": 1}').slice(0, 30)}`), { content: '', calls: [] });
  t.same(dr.push(`${v3('b', '{"k": 1}').slice(30)}${E}`).calls.map((c) => c.function.arguments), ['{"k":1}']);
  t.same(dr.end(), { content: '', calls: [] });
  t.end();
});

t.test('a long block streamed in small pieces reads as the whole (each piece reads only the new text)', (t) => {
  const long = 'y'.repeat(200_000);
  const code = Array.from({ length: 8000 }, (_, i) => `f(${i}) # "</tool_call>" </parameter> <function=g>`).join('\n');
  const cases: [ToolParserName, string, string, Want][] = [
    ['deepseek_v3', 'a call', `${S}${v3('a', `{"x": "${long}"}`)}${E}`, { content: null, calls: [['a', `{"x":"${long}"}`]] }],
    ['deepseek_v3', 'a block left open, cut short: text', `${S}<｜tool▁call▁begin｜>function<｜tool▁sep｜>a\n\`\`\`json\n{"x": "${long}`, { content: `${S}<｜tool▁call▁begin｜>function<｜tool▁sep｜>a\n\`\`\`json\n{"x": "${long}`, calls: [] }],
    ['deepseek_v31', 'a call', `${S}${v31('a', `{"x": "${long}"}`)}${E}ok`, { content: 'ok', calls: [['a', `{"x":"${long}"}`]] }],
    ['qwen3_coder', 'a value', `${q('write', ['code', long])}\nDone.`, { content: '\nDone.', calls: [['write', JSON.stringify({ code: long })]] }],
    ['qwen3_coder', 'a value holding many </tool_call>', `${q('write', ['code', code])}\nDone.`, { content: '\nDone.', calls: [['write', JSON.stringify({ code })]] }],
    [
      'qwen3_coder',
      'a value holding many </tool_call>, </function> left out',
      `<tool_call>\n<function=write>\n<parameter=code>\n${code}\n</parameter>\n</tool_call>\nDone.`,
      { content: '\nDone.', calls: [['write', JSON.stringify({ code })]] },
    ],
    ['qwen3_coder', 'a block left open, cut short: text', `<tool_call>\n<function=write>\n<parameter=code>\n${code}`, { content: `<tool_call>\n<function=write>\n<parameter=code>\n${code}`, calls: [] }],
  ];
  for (const [parser, name, text, want] of cases) {
    t.ok(text.length > 200_000, `${parser}, ${name}: long`);
    t.same(streamed(parser, chunks(text, 4)), want, `${parser}, ${name}: streamed 4 chars at a time`);
    t.same(calls(parser, text), want, `${parser}, ${name}: whole`);
  }
  t.end();
});

t.test('parallel_tool_calls false keeps the first call', (t) => {
  const one = (parser: ToolParserName, text: string) => readChatText({ reasoning: null, tools: parser, toolSchemas: TOOLS, oneCall: true }, text).calls.map((c) => c.function.name);
  t.same(one('qwen3_coder', `${q('get_weather', ['city', 'Oslo'])}\n${q('now')}`), ['get_weather']);
  t.same(one('deepseek_v3', `${S}${v3('get_weather', '{}')}\n${v3('now', '{}')}${E}`), ['get_weather']);
  t.same(one('deepseek_v31', `${S}${v31('get_weather', '{}')}${v31('now', '{}')}${E}`), ['get_weather']);
  t.end();
});

t.test('the parser is picked from the chat template', (t) => {
  // Lines as Qwen3-Coder's, DeepSeek-R1's and DeepSeek-V3.1's chat templates write them (snippets, not the whole templates).
  const qwen3Coder =
    "{{- '\\n<tool_call>\\n<function=example_function_name>\\n<parameter=example_parameter_1>\\nvalue_1\\n</parameter>\\n</function>\\n</tool_call>' }}\n" +
    "{{- '\\n<tool_call>\\n<function=' + tool_call.name + '>\\n' }}{{- '<parameter=' + args_name + '>\\n' }}";
  const deepseekV3 =
    "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}";
  const deepseekV31 = "{{'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>'+ tool['function']['name'] + '<｜tool▁sep｜>' + tool['function']['arguments'] + '<｜tool▁call▁end｜>'}}";
  t.equal(detectToolParser(qwen3Coder), 'qwen3_coder', 'Qwen3-Coder: <function= and <parameter= (inside <tool_call>, which alone is hermes)');
  t.equal(detectToolParser(deepseekV3), 'deepseek_v3', 'DeepSeek-V3 / R1: the section marker, ```json around the arguments');
  t.equal(detectToolParser(deepseekV31), 'deepseek_v31', 'DeepSeek-V3.1: the section marker, no fence');
  t.equal(detectToolParser('<function=example_function_name>{"example_name": "example_value"}</function>'), null, "Llama 3.1's <function=...> JSON prompt is not qwen3_coder");
  t.equal(detectToolParser('<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'), 'hermes', '<tool_call> alone is still hermes');
  t.equal(pickToolParser({ toolCallParser: 'auto', enableAutoToolChoice: true }, qwen3Coder), 'qwen3_coder');
  t.equal(pickToolParser({ toolCallParser: 'deepseek_v31', enableAutoToolChoice: true }, null), 'deepseek_v31', 'named, for a template that shows none');
  t.end();
});
