// Long prompts are encoded in a worker thread (issue §7) and give exactly
// the ids the inline tokenizer gives.

import t from 'tap';
import { startServer } from '../helpers/server-harness.js';

t.test('long prompts go to the tokenize worker, short ones stay inline', async (t) => {
  const h = await startServer({ offloadTokenizer: true, offloadChars: 1000, engine: { maxModelLen: 100_000 } });
  t.teardown(() => h.close());
  const long = Array.from({ length: 300 }, (_, i) => `line ${i}: ünïcode, code_var[${i}] = "x";`).join('\n');
  const res = await fetch(`${h.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: long, max_tokens: 2 }) });
  t.equal(res.status, 200);
  const body = (await res.json()) as { usage: { prompt_tokens: number } };
  t.equal(body.usage.prompt_tokens, h.engine.tokenizer.encode(long, true).length, 'same token count as inline');
  t.equal(h.ctx.encoder.offloaded(), 1, 'the long prompt was encoded in the worker');
  const tok = await fetch(`${h.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: long }) });
  t.same(((await tok.json()) as { tokens: number[] }).tokens, h.engine.tokenizer.encode(long, true), 'identical ids');
  const chat = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: long }], max_tokens: 2 }) });
  t.equal(chat.status, 200);
  t.equal(h.ctx.encoder.offloaded(), 3, 'chat prompts too');
  await fetch(`${h.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'short', max_tokens: 1 }) });
  t.equal(h.ctx.encoder.offloaded(), 3, 'short prompt inline');
});
