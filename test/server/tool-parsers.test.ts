// The tool-call parsers for tool_choice "auto" on exact texts: what is a
// call, what stays content, and that a stream cut anywhere reads the same
// calls and content as the whole text.
import t from 'tap';
import { npmTokenizer, type TokenizerName } from '../../src/models/npm-tokenizers.js';
import { pickToolParser } from '../../src/server/app.js';
import { readChatText } from '../../src/server/chat-output.js';
import { MAX_NESTING } from '../../src/server/python-calls.js';
import { detectToolParser, toolReader, type ToolParserName } from '../../src/server/tool-parsers.js';

const calls = (parser: ToolParserName, text: string) => {
  const r = readChatText({ reasoning: null, tools: parser }, text);
  return { content: r.content, calls: r.calls.map((c) => [c.function.name, c.function.arguments]) };
};

/** The text fed in pieces of `size` characters: the concatenated content and the calls. */
function streamed(parser: ToolParserName, text: string, size: number) {
  const r = toolReader(parser);
  let content = '';
  const out: [string, string][] = [];
  for (let i = 0; i < text.length; i += size) {
    const read = r.push(text.slice(i, i + size));
    content += read.content;
    out.push(...read.calls.map((c): [string, string] => [c.function.name, c.function.arguments]));
  }
  const last = r.end();
  content += last.content;
  out.push(...last.calls.map((c): [string, string] => [c.function.name, c.function.arguments]));
  return { content: out.length > 0 && content === '' ? null : content, calls: out };
}

const HERMES: [string, string, { content: string | null; calls: [string, string][] }][] = [
  ['plain text', 'It is sunny.', { content: 'It is sunny.', calls: [] }],
  ['one call after text', 'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>', { content: 'Let me look.\n', calls: [['get_weather', '{"city":"Oslo"}']] }],
  [
    'two calls, whitespace between dropped',
    '<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>\n',
    { content: null, calls: [['a', '{"x":1}'], ['b', '{}']] },
  ],
  ['arguments as JSON text', '<tool_call>{"name": "a", "arguments": "{\\"q\\": \\"x\\"}"}</tool_call>', { content: null, calls: [['a', '{"q":"x"}']] }],
  ['parameters instead of arguments', '<tool_call>{"name": "a", "parameters": {"k": [1, 2]}}</tool_call>', { content: null, calls: [['a', '{"k":[1,2]}']] }],
  ['no arguments at all', '<tool_call>{"name": "now"}</tool_call>', { content: null, calls: [['now', '{}']] }],
  ['a block that is not JSON stays text', 'Hm <tool_call>{"name": oops}</tool_call> ok', { content: 'Hm <tool_call>{"name": oops}</tool_call> ok', calls: [] }],
  ['a block without a name stays text', '<tool_call>{"arguments": {}}</tool_call>', { content: '<tool_call>{"arguments": {}}</tool_call>', calls: [] }],
  ['an open block with complete JSON is a call', '<tool_call>\n{"name": "a", "arguments": {"x": "</tool"}}\n', { content: null, calls: [['a', '{"x":"</tool"}']] }],
  ['an open block cut short stays text', 'x<tool_call>{"name": "a", "argum', { content: 'x<tool_call>{"name": "a", "argum', calls: [] }],
  ['text after the calls is content', '<tool_call>{"name": "a", "arguments": {}}</tool_call>\nDone.', { content: '\nDone.', calls: [['a', '{}']] }],
  ['a tag-like word is text', 'use <tool_cal> and <tool', { content: 'use <tool_cal> and <tool', calls: [] }],
  ['reasoning before the call is content', '<think>\nweather\n</think>\n\n<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>', { content: '<think>\nweather\n</think>\n\n', calls: [['a', '{}']] }],
];

const LLAMA3: [string, string, { content: string | null; calls: [string, string][] }][] = [
  ['plain text', 'Hello there {not json}', { content: 'Hello there {not json}', calls: [] }],
  ['one call', '{"name": "get_weather", "parameters": {"city": "Oslo"}}', { content: null, calls: [['get_weather', '{"city":"Oslo"}']] }],
  ['python tag and leading space', ' <|python_tag|>{"name": "a", "arguments": {"x": 2}}', { content: null, calls: [['a', '{"x":2}']] }],
  ['calls joined by ;', '{"name": "a", "parameters": {"s": "x;y"}}; {"name": "b", "parameters": {}}', { content: null, calls: [['a', '{"s":"x;y"}'], ['b', '{}']] }],
  ['JSON that is not a call is content', '{"answer": 42}', { content: '{"answer": 42}', calls: [] }],
  ['JSON cut short is content', '{"name": "a", "parameters": {"x"', { content: '{"name": "a", "parameters": {"x"', calls: [] }],
];

const MISTRAL: [string, string, { content: string | null; calls: [string, string][] }][] = [
  ['plain text', 'Use [TOOL] or [TOOL_CALL later', { content: 'Use [TOOL] or [TOOL_CALL later', calls: [] }],
  ['a JSON list', '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "now", "arguments": {}}]', { content: null, calls: [['get_weather', '{"city":"Oslo"}'], ['now', '{}']] }],
  ['text before, one object', 'Checking. [TOOL_CALLS] {"name": "a", "arguments": {"x": 1}}', { content: 'Checking. ', calls: [['a', '{"x":1}']] }],
  ['name[ARGS] per call (newer tokenizers)', '[TOOL_CALLS]get_weather[ARGS]{"city": "Oslo"}[TOOL_CALLS]now[ARGS]{}', { content: null, calls: [['get_weather', '{"city":"Oslo"}'], ['now', '{}']] }],
  ['not calls: all of it is content', '[TOOL_CALLS] sorry, no', { content: '[TOOL_CALLS] sorry, no', calls: [] }],
  ['a list cut short is content', '[TOOL_CALLS][{"name": "a", "argu', { content: '[TOOL_CALLS][{"name": "a", "argu', calls: [] }],
  ['one bad part spoils the lot', '[TOOL_CALLS]a[ARGS]{}[TOOL_CALLS]b[ARGS]{nope', { content: '[TOOL_CALLS]a[ARGS]{}[TOOL_CALLS]b[ARGS]{nope', calls: [] }],
];

const PYTHONIC: [string, string, { content: string | null; calls: [string, string][] }][] = [
  ['plain text', 'It is [probably] sunny.', { content: 'It is [probably] sunny.', calls: [] }],
  ['one call', "[get_weather(city='Oslo')]", { content: null, calls: [['get_weather', '{"city":"Oslo"}']] }],
  [
    'two calls, every kind of literal',
    '[get_weather(city="Oslo", days=3, hourly=True, units=None), search(q=\'it\\\'s\', tags=[1, -2.5, 1e3], opts={"a": (1, 2), 3: False},)]',
    { content: null, calls: [['get_weather', '{"city":"Oslo","days":3,"hourly":true,"units":null}'], ['search', '{"q":"it\'s","tags":[1,-2.5,1000],"opts":{"3":false,"a":[1,2]}}']] },
  ],
  ['no arguments, a dotted name', '[now(), tools.clock.tz(name="CET")]', { content: null, calls: [['now', '{}'], ['tools.clock.tz', '{"name":"CET"}']] }],
  ['escapes and a triple-quoted string', '[say(text="a\\nb\\u00e9\\x41\\q", more=\'\'\'two\nlines\'\'\')]', { content: null, calls: [['say', '{"text":"a\\nbéA\\\\q","more":"two\\nlines"}']] }],
  ["Llama 4's tags", "<|python_start|>[f(x=1)]<|python_end|>", { content: null, calls: [['f', '{"x":1}']] }],
  ['leading whitespace', '\n [f(x=1)]\n', { content: null, calls: [['f', '{"x":1}']] }],
  ['a positional argument is not a call', '[f(1)]', { content: '[f(1)]', calls: [] }],
  ['a name as a value is not a call', '[f(x=y)]', { content: '[f(x=y)]', calls: [] }],
  ['text after the list: content', '[f(x=1)] and more', { content: '[f(x=1)] and more', calls: [] }],
  ['a list of numbers is content', '[1, 2, 3]', { content: '[1, 2, 3]', calls: [] }],
  ['an empty list is content', '[]', { content: '[]', calls: [] }],
  ['cut short: content', "[f(x='Os", { content: "[f(x='Os", calls: [] }],
  ['a string across a line is not Python', "[f(x='a\nb')]", { content: "[f(x='a\nb')]", calls: [] }],
];

t.test('hermes', (t) => {
  for (const [name, text, want] of HERMES) {
    t.same(calls('hermes', text), want, name);
    for (const size of [1, 2, 3, 7]) t.same(streamed('hermes', text, size), want, `${name}, streamed ${size} chars at a time`);
  }
  t.end();
});

t.test('llama3_json', (t) => {
  for (const [name, text, want] of LLAMA3) {
    t.same(calls('llama3_json', text), want, name);
    for (const size of [1, 4]) t.same(streamed('llama3_json', text, size), want, `${name}, streamed ${size} chars at a time`);
  }
  t.end();
});

t.test('mistral', (t) => {
  for (const [name, text, want] of MISTRAL) {
    t.same(calls('mistral', text), want, name);
    for (const size of [1, 3, 8]) t.same(streamed('mistral', text, size), want, `${name}, streamed ${size} chars at a time`);
  }
  t.end();
});

t.test('pythonic', (t) => {
  for (const [name, text, want] of PYTHONIC) {
    t.same(calls('pythonic', text), want, name);
    for (const size of [1, 5]) t.same(streamed('pythonic', text, size), want, `${name}, streamed ${size} chars at a time`);
  }
  // Content that does not open a list goes out as it comes.
  const r = toolReader('pythonic');
  t.same(r.push('Sure'), { content: 'Sure', calls: [] });
  t.same(r.push(' [x]'), { content: ' [x]', calls: [] });
  // Nesting past MAX_NESTING is not Python here: the text stays text
  // instead of the reader overflowing the stack (found by review).
  const deep = `[f(a=${'['.repeat(MAX_NESTING + 1)}${']'.repeat(MAX_NESTING + 1)})]`;
  t.same(calls('pythonic', deep), { content: deep, calls: [] }, 'too deep: text');
  const ok = `[f(a=${'['.repeat(MAX_NESTING)}${']'.repeat(MAX_NESTING)})]`;
  t.equal(calls('pythonic', ok).calls.length, 1, 'as deep as allowed: a call');
  t.same(calls('pythonic', `[f(a=${'['.repeat(100000)})]`).calls, [], 'a hundred thousand [: no crash');
  t.end();
});

t.test('text between calls reads the same streamed in any pieces as whole (its trailing whitespace is the separator\'s)', (t) => {
  const call = (name: string): string => `<tool_call>{"name": "${name}", "arguments": {}}</tool_call>`;
  for (const [between, content] of [[' hi ', ' hi'], ['\n\nso:  \n', '\n\nso:'], ['  ', null]] as const) {
    const text = `${call('a')}${between}${call('b')}`;
    const whole = calls('hermes', text);
    t.same(whole, { content, calls: [['a', '{}'], ['b', '{}']] }, `${JSON.stringify(between)}: whole`);
    for (let size = 1; size <= text.length; size++) t.same(streamed('hermes', text, size), whole, `${JSON.stringify(between)}: ${size} characters a piece`);
  }
  t.end();
});

t.test('hermes sends content as it comes, holding back only what may open a block', (t) => {
  const r = toolReader('hermes');
  t.same(r.push('Sure, '), { content: 'Sure, ', calls: [] });
  t.same(r.push('one <tool'), { content: 'one ', calls: [] }, 'the start of a tag is held');
  t.same(r.push('box>'), { content: '<toolbox>', calls: [] }, 'and sent once it is not one');
  t.same(r.push('<tool_call>{"name": "a", '), { content: '', calls: [] });
  const read = r.push('"arguments": {}}</tool_call>');
  t.equal(read.calls.length, 1, 'the call comes when its block closes');
  t.match(read.calls[0], { id: /^call_[0-9a-f]{24}$/, type: 'function', function: { name: 'a', arguments: '{}' } });
  t.same(r.end(), { content: '', calls: [] });
  t.end();
});

t.test('every call has its own id', (t) => {
  const r = readChatText({ reasoning: null, tools: 'hermes' }, '<tool_call>{"name": "a"}</tool_call><tool_call>{"name": "a"}</tool_call>');
  t.equal(r.calls.length, 2);
  t.not(r.calls[0].id, r.calls[1].id);
  t.end();
});

t.test('the parser is picked from the chat template', (t) => {
  const templateOf = (name: TokenizerName): string | null => {
    const v = npmTokenizer(name).config.chat_template;
    return typeof v === 'string' ? v : null;
  };
  t.equal(detectToolParser(templateOf('qwen3')), 'hermes', "Qwen3's template writes <tool_call> blocks");
  t.equal(detectToolParser(templateOf('llama3')), null, "Llama 3.0's template has no tool syntax");
  t.equal(detectToolParser(null), null, 'no template');
  t.equal(detectToolParser('{%- if message.tool_calls %}{{- "[TOOL_CALLS][" }}'), 'mistral');
  t.equal(detectToolParser('{{- "<|python_tag|>" + tool_call.name }}'), 'llama3_json');
  t.equal(detectToolParser('Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.'), 'llama3_json');
  t.equal(detectToolParser('you MUST put it in the format of [func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]'), 'pythonic', "vLLM's Llama 3.2 pythonic template");
  t.equal(detectToolParser('{{- "<|python_start|>" }}'), 'pythonic', "Llama 4's tag");

  const qwen = templateOf('qwen3');
  t.equal(pickToolParser({ toolCallParser: 'auto', enableAutoToolChoice: true }, qwen), 'hermes');
  t.equal(pickToolParser({ toolCallParser: 'llama3_json', enableAutoToolChoice: true }, qwen), 'llama3_json', 'the flag wins over the template');
  t.equal(pickToolParser({ toolCallParser: 'hermes', enableAutoToolChoice: true }, null), 'hermes', 'and serves a template that shows none');
  t.equal(pickToolParser({ toolCallParser: 'none', enableAutoToolChoice: true }, qwen), null);
  t.equal(pickToolParser({ toolCallParser: 'auto', enableAutoToolChoice: false }, qwen), null, '--no-enable-auto-tool-choice');
  t.end();
});
