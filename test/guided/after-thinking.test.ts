// afterThinking over a scripted grammar: nothing banned while the model
// thinks, the grammar's bans after </think>, and <think> let through only
// as the first token.
import t from 'tap';
import { afterThinking, GAP_TOKENS } from '../../src/guided/after-thinking.js';
import type { TokenGuide } from '../../src/guided/xgrammar.js';

const START = 5;
const END = 6;

/** A grammar that accepts only 1, 2, 3 (in any order) and records what reached it. */
function digits(): TokenGuide & { seen: number[]; refreshed: number; disposed: boolean } {
  const g = {
    seen: [] as number[],
    refreshed: 0,
    disposed: false,
    rejected: () => [0, 4, 5, 6, 7, 8, 9],
    accept(tok: number) {
      g.seen.push(tok);
      return tok >= 1 && tok <= 3;
    },
    refresh() {
      g.refreshed++;
      return Promise.resolve();
    },
    dispose() {
      g.disposed = true;
    },
  };
  return g;
}

t.test('a model that thinks first: free thoughts, then the grammar', async (t) => {
  const inner = digits();
  const g = afterThinking(inner, { start: START, end: END, opened: false });
  t.same(g.rejected(), [0, 4, 6, 7, 8, 9], 'first token: the grammar\'s bans, <think> let through');
  t.ok(g.accept(START));
  await g.refresh();
  t.same(g.rejected(), [], 'thinking: nothing banned');
  for (const tok of [0, 9, 4, START]) {
    t.ok(g.accept(tok), `thought token ${tok}`);
    await g.refresh();
    t.same(g.rejected(), []);
  }
  t.ok(g.accept(END), '</think>');
  await g.refresh();
  t.same(g.rejected(), [0, 4, 5, 6, 7, 8, 9], 'after it: the grammar\'s bans, <think> included');
  t.ok(g.accept(2));
  t.notOk(g.accept(7), 'the grammar rejects what it rejects');
  t.same(inner.seen, [2, 7], 'the grammar saw only the answer');
  t.equal(inner.refreshed, 1, 'and was refreshed only once it applied');
  g.dispose();
  t.ok(inner.disposed);
});

t.test('a model that does not think is held from its first token', async (t) => {
  const inner = digits();
  const g = afterThinking(inner, { start: START, end: END, opened: false });
  t.ok(g.accept(1));
  await g.refresh();
  t.same(g.rejected(), [0, 4, 5, 6, 7, 8, 9], '<think> is banned once the answer began');
  t.notOk(g.accept(START), 'and is the grammar\'s to reject');
});

t.test('a prompt that opened the block: thoughts until </think>', async (t) => {
  const inner = digits();
  const g = afterThinking(inner, { start: START, end: END, opened: true });
  t.same(g.rejected(), [], 'nothing banned from the start');
  t.ok(g.accept(9));
  t.ok(g.accept(END));
  await g.refresh();
  t.same(g.rejected(), [0, 4, 5, 6, 7, 8, 9]);
  t.same(inner.seen, []);
});

t.test('whitespace after </think> (Qwen3 writes "</think>\\n\\n"): let through, at most GAP_TOKENS, unseen by the grammar', async (t) => {
  const GAP = [4, 8];
  const inner = digits();
  const g = afterThinking(inner, { start: START, end: END, opened: true, gap: GAP });
  t.ok(g.accept(END));
  await g.refresh();
  t.same(g.rejected(), [0, 5, 6, 7, 9], 'right after </think>: the grammar\'s first token or whitespace');
  t.ok(g.accept(8), 'one whitespace token');
  t.same(g.rejected(), [0, 5, 6, 7, 9]);
  t.ok(g.accept(4), 'a second');
  t.equal(GAP_TOKENS, 2);
  t.same(g.rejected(), [0, 4, 5, 6, 7, 8, 9], 'then the grammar holds');
  t.ok(g.accept(3));
  t.same(inner.seen, [3], 'the grammar saw only the answer');

  const direct = afterThinking(digits(), { start: START, end: END, opened: true, gap: GAP });
  t.ok(direct.accept(END));
  t.ok(direct.accept(1), 'no whitespace: the grammar at once');
  t.same(direct.rejected(), [0, 4, 5, 6, 7, 8, 9], 'and whitespace is the grammar\'s to ban from then on');
});
