// The <think> reader (reasoning_content) on exact texts: what is thought,
// what is the answer, the same whether the text comes whole or in pieces of
// any size, and its hand-off to the tool-call parser.
import t from 'tap';
import { npmTokenizer } from '../../src/models/npm-tokenizers.js';
import { pickReasoningParser } from '../../src/server/app.js';
import { readChatText, ChatChoiceReader, type ChatReadOptions } from '../../src/server/chat-output.js';
import { detectReasoningParser, promptOpensThinking } from '../../src/server/reasoning.js';

type Want = { reasoning: string | null; content: string | null; calls: [string, string][] };

function whole(o: ChatReadOptions, text: string): Want {
  const r = readChatText(o, text);
  return { reasoning: r.reasoning, content: r.content, calls: r.calls.map((c) => [c.function.name, c.function.arguments]) };
}

function pieces(o: ChatReadOptions, text: string, size: number): Want {
  const r = new ChatChoiceReader(o);
  let reasoning = '';
  let content = '';
  const calls: [string, string][] = [];
  const take = (x: { reasoning: string; content: string; calls: { function: { name: string; arguments: string } }[] }): void => {
    reasoning += x.reasoning;
    content += x.content;
    calls.push(...x.calls.map((c): [string, string] => [c.function.name, c.function.arguments]));
  };
  for (let i = 0; i < text.length; i += size) take(r.push(text.slice(i, i + size)));
  take(r.end());
  return { reasoning: o.reasoning !== null && reasoning !== '' ? reasoning : null, content: calls.length > 0 && content === '' ? null : content, calls };
}

const think = (openedByPrompt = false): ChatReadOptions => ({ reasoning: { openedByPrompt }, tools: null });

const CASES: [string, ChatReadOptions, string, Want][] = [
  ['thoughts, then the answer', think(), '<think>\nThe sky.\n</think>\n\nIt is blue.', { reasoning: '\nThe sky.\n', content: 'It is blue.', calls: [] }],
  ['no thoughts: all content, as written', think(), '  It is blue.\n', { reasoning: null, content: '  It is blue.\n', calls: [] }],
  ['a <think> later on is content', think(), 'Say <think> twice: <think></think>', { reasoning: null, content: 'Say <think> twice: <think></think>', calls: [] }],
  ['leading whitespace before <think>', think(), '\n<think>a</think>b', { reasoning: 'a', content: 'b', calls: [] }],
  ['an empty block', think(), '<think>\n\n</think>\n\nHi', { reasoning: '\n\n', content: 'Hi', calls: [] }],
  ['never closed: all thoughts', think(), '<think>still thinking', { reasoning: 'still thinking', content: '', calls: [] }],
  ['the prompt opened the block', think(true), 'Hmm.\n</think>\nYes.', { reasoning: 'Hmm.\n', content: 'Yes.', calls: [] }],
  ['the prompt opened it and the output closes nothing', think(true), 'Hmm', { reasoning: 'Hmm', content: '', calls: [] }],
  ['a partial tag that is not one', think(), '<thin k>', { reasoning: null, content: '<thin k>', calls: [] }],
  ['</think at the end of thoughts is held, then sent', think(), '<think>a </thinker </think>b', { reasoning: 'a </thinker ', content: 'b', calls: [] }],
  ['reasoning off: thoughts stay content', { reasoning: null, tools: null }, '<think>x</think>y', { reasoning: null, content: '<think>x</think>y', calls: [] }],
  [
    'thoughts, then a call',
    { reasoning: { openedByPrompt: false }, tools: 'hermes' },
    '<think>\nCall it.\n</think>\n\n<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>',
    { reasoning: '\nCall it.\n', content: null, calls: [['f', '{"a":1}']] },
  ],
  [
    'parallel_tool_calls false: the first call only',
    { reasoning: null, tools: 'hermes', oneCall: true },
    '<tool_call>{"name": "a"}</tool_call>\n<tool_call>{"name": "b"}</tool_call>',
    { reasoning: null, content: null, calls: [['a', '{}']] },
  ],
  ['a <tool_call> inside thoughts is thought', { reasoning: { openedByPrompt: false }, tools: 'hermes' }, '<think><tool_call>{"name": "f"}</tool_call></think>ok', { reasoning: '<tool_call>{"name": "f"}</tool_call>', content: 'ok', calls: [] }],
];

t.test('the <think> reader', (t) => {
  for (const [name, o, text, want] of CASES) {
    t.same(whole(o, text), want, name);
    for (const size of [1, 2, 5]) t.same(pieces(o, text, size), want, `${name}, ${size} chars at a time`);
  }
  t.end();
});

t.test('thoughts stream as they come', (t) => {
  const r = new ChatChoiceReader(think());
  t.same(r.push('<thi'), { reasoning: '', content: '', calls: [] }, 'a partial <think> is held');
  t.same(r.push('nk>I see'), { reasoning: 'I see', content: '', calls: [] });
  t.same(r.push(' it</th'), { reasoning: ' it', content: '', calls: [] }, 'a partial </think> is held');
  t.same(r.push('ink>\n\n'), { reasoning: '', content: '', calls: [] }, 'the whitespace after it is dropped');
  t.same(r.push('Yes'), { reasoning: '', content: 'Yes', calls: [] });
  t.same(r.end(), { reasoning: '', content: '', calls: [] });
  t.end();
});

t.test('where the prompt leaves a block open, and which templates think', (t) => {
  t.equal(promptOpensThinking('<|im_start|>assistant\n'), false);
  t.equal(promptOpensThinking('<｜Assistant｜><think>\n'), true, "DeepSeek-R1's generation prompt");
  t.equal(promptOpensThinking('<|im_start|>assistant\n<think>\n\n</think>\n\n'), false, "Qwen3's with enable_thinking false");
  const template = (name: 'qwen3' | 'llama3'): string | null => {
    const v = npmTokenizer(name).config.chat_template;
    return typeof v === 'string' ? v : null;
  };
  t.equal(detectReasoningParser(template('qwen3')), 'qwen3');
  t.equal(detectReasoningParser(template('llama3')), null);
  t.equal(pickReasoningParser({ reasoningParser: 'auto' }, template('qwen3')), 'qwen3');
  t.equal(pickReasoningParser({ reasoningParser: 'none' }, template('qwen3')), null);
  t.equal(pickReasoningParser({ reasoningParser: 'deepseek_r1' }, null), 'deepseek_r1', 'named: served whatever the template');
  t.end();
});
