// The in-memory store of /v1/responses (--responses-store-size): the newest
// N kept, a read makes one the newest, 0 keeps nothing.
import t from 'tap';
import { ResponseStore } from '../../src/server/responses-store.js';
import { responsesMessages } from '../../src/server/responses-input.js';

const r = (id: string) => ({ response: { id }, items: [{ role: 'user', content: id }], inputCount: 1 });

t.test('least recently used dropped first', (t) => {
  const s = new ResponseStore(2);
  s.put('a', r('a'));
  s.put('b', r('b'));
  t.equal(s.get('a')?.response.id, 'a', 'a read: a is now the newest');
  s.put('c', r('c'));
  t.equal(s.get('b'), undefined, 'b, the least recently used, was dropped');
  t.ok(s.get('a') && s.get('c'));
  t.equal(s.size, 2);
  t.ok(s.delete('a'));
  t.notOk(s.delete('a'), 'deleted once');
  const off = new ResponseStore(0);
  off.put('a', r('a'));
  t.equal(off.enabled, false);
  t.equal(off.size, 0, 'size 0 keeps nothing');
  t.end();
});

t.test('a previous conversation comes between the instructions and the input', (t) => {
  const before = [{ role: 'user', content: 'q1' }, { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'a1' }] }];
  t.same(responsesMessages('q2', 'Be brief.', before), [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'q1' },
    { role: 'assistant', content: 'a1' },
    { role: 'user', content: 'q2' },
  ]);
  let param: unknown = null;
  try {
    responsesMessages([{ role: 'nobody', content: 'x' }], null, before);
  } catch (err) {
    param = (err as { param?: unknown }).param;
  }
  t.equal(param, 'input.0.role', 'input indexes count from the new input');
  t.end();
});
