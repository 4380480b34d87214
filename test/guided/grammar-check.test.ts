// The grammar checker (src/guided/grammar-check.ts) on its own: a source
// that compiles, one the library refuses with a reason, one that runs past
// the time limit (150 ms against a schema that takes ~1 s, a tiny grammar
// a few ms), and a worker that after each of them still, or again, answers.
import t from 'tap';
import { GrammarChecker } from '../../src/guided/grammar-check.js';

const vocab = { tokens: ['a', 'b', '[', ']', '"', '</s>'], type: 'raw' as const, prependSpace: false, vocabSize: 6, stopTokenIds: [5] };

let deep: unknown = { type: 'string' };
for (let i = 0; i < 45; i++) deep = { type: 'array', items: deep };

t.test('answers, refusals, the time limit', async (t) => {
  const checker = new GrammarChecker(vocab);
  t.teardown(() => checker.close());
  t.equal(await checker.check('ebnf:root ::= "a" "b"'), null, 'a grammar that compiles');
  t.match(await checker.check('ebnf:root ::= ('), /EBNF parser error/, "a refusal carries the library's reason");
  t.equal(await checker.check('regex:a+b'), null, 'the worker answers after a refusal');
  t.match(await checker.check(`regex:${'('.repeat(300)}a${')'.repeat(300)}`), /nested too deeply for xgrammar|did not compile within/, 'an overflow');
  t.equal(await checker.check('ebnf:root ::= "b"'), null, 'a fresh worker after the overflow');
  const [x, y] = await Promise.all([checker.check('ebnf:root ::= "a"'), checker.check('ebnf:root ::= )')]);
  t.equal(x, null, 'checks queue: the first of two at once');
  t.match(y, /EBNF parser error/, 'and the second');

  const hasty = new GrammarChecker(vocab, 150);
  t.teardown(() => hasty.close());
  t.equal(await hasty.check('ebnf:root ::= "a"'), null, 'the start is not counted against the limit');
  t.equal(await hasty.check(`schema:${JSON.stringify(deep)}`), 'it did not compile within 0.15 s', 'past the limit: the worker is stopped');
  t.equal(await hasty.check('ebnf:root ::= "a"'), null, 'and a new one answers the next');
});
