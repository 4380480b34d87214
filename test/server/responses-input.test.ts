// The Responses API's request in chat's terms (src/server/responses-input.ts).
import t from 'tap';
import { HttpError } from '../../src/server/errors.js';
import { chatToolChoice, chatTools, includesLogprobs, responsesMessages, textFormat } from '../../src/server/responses-input.js';

/** The 400's param, or null when `fn` does not throw one. */
function param(fn: () => unknown): string | null {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError && err.status === 400) return err.param;
    throw err;
  }
  return null;
}

t.test('input items as chat messages', (t) => {
  t.same(responsesMessages('Hi', 'Be brief.'), [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], 'instructions first, a string is a user message');
  t.same(responsesMessages('Hi', ''), [{ role: 'user', content: 'Hi' }], 'empty instructions add nothing');
  const call = (id: string) => ({ type: 'function_call', call_id: id, name: 'f', arguments: `{"n":${id.length}}` });
  const asChat = (id: string) => ({ id, type: 'function', function: { name: 'f', arguments: `{"n":${id.length}}` } });
  t.same(
    responsesMessages(
      [
        { role: 'developer', content: [{ type: 'input_text', text: 'a' }, { type: 'input_text', text: 'b' }] },
        { type: 'message', role: 'user', content: 'q' },
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'short' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Calling.', annotations: [] }] },
        call('c1'),
        call('c22'),
        { type: 'function_call_output', call_id: 'c1', output: 'one' },
        { type: 'function_call_output', call_id: 'c22', output: [{ type: 'input_text', text: 'two' }] },
        { type: 'reasoning', content: [{ type: 'reasoning_text', text: 'again' }], summary: [] },
        call('c3'),
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'No.' }] },
      ],
      null,
    ),
    [
      { role: 'developer', content: 'a\nb' },
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'Calling.', reasoning_content: 'short', tool_calls: [asChat('c1'), asChat('c22')] },
      { role: 'tool', tool_call_id: 'c1', content: 'one' },
      { role: 'tool', tool_call_id: 'c22', content: 'two' },
      { role: 'assistant', content: '', reasoning_content: 'again', tool_calls: [asChat('c3')] },
      { role: 'assistant', content: 'No.' },
    ],
    'calls join the assistant message before them; a reasoning item goes to the next assistant message',
  );
  t.equal(param(() => responsesMessages([], null)), 'input');
  t.equal(param(() => responsesMessages([{ role: 'tool', content: 'x' }], null)), 'input.0.role');
  t.equal(param(() => responsesMessages(['x'], null)), 'input.0');
  t.equal(param(() => responsesMessages([{ type: 'function_call', name: 'f', arguments: '{}' }], null)), 'input.0');
  t.equal(param(() => responsesMessages([{ type: 'function_call_output', output: 'x' }], null)), 'input.0.call_id');
  t.equal(param(() => responsesMessages([{ type: 'computer_call', id: 'x' }], null)), 'input.0.type');
  t.equal(param(() => responsesMessages([{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }], null)), 'input.0.content.0');
  t.end();
});

t.test('tools, tool_choice, text.format, include', (t) => {
  t.same(chatTools([{ type: 'function', name: 'f', description: 'd', parameters: { type: 'object' }, strict: true }]), [
    { type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' }, strict: true } },
  ]);
  t.equal(chatTools(undefined), undefined);
  t.equal(param(() => chatTools([{ type: 'mcp', server_label: 'x' }])), 'tools.0.type');
  t.equal(param(() => chatTools({})), 'tools');
  t.same(chatToolChoice({ type: 'function', name: 'f' }), { type: 'function', function: { name: 'f' } });
  t.equal(chatToolChoice('required'), 'required');
  t.equal(param(() => chatToolChoice({ type: 'allowed_tools', mode: 'auto', tools: [] })), 'tool_choice');
  t.equal(textFormat(undefined), null);
  t.equal(textFormat({ format: { type: 'text' } }), null);
  t.same(textFormat({ format: { type: 'json_object' } }), { field: 'text.format', spec: { kind: 'json_object' } });
  t.same(textFormat({ format: { type: 'json_schema', name: 'x', schema: { type: 'object' } } }), { field: 'text.format', spec: { kind: 'json_schema', schema: '{"type":"object"}' } });
  t.equal(param(() => textFormat({ format: { type: 'json_schema', name: 'x' } })), 'text.format');
  t.equal(param(() => textFormat('json')), 'text');
  t.equal(includesLogprobs(['reasoning.encrypted_content']), false, 'known includes pass');
  t.equal(includesLogprobs(['message.output_text.logprobs']), true);
  t.equal(param(() => includesLogprobs(['all'])), 'include');
  t.end();
});
