import t from 'tap';

import { sizeKvCache } from '../../src/kvcache/sizing.js';

const MiB = 1024 * 1024;

t.test('blocks, tokens and full-length sequences from a byte budget', (t) => {
  // 64 KiB per block, 16 tokens per block, 10 MiB -> 160 blocks, 159 usable.
  const r = sizeKvCache({ budgetBytes: 10 * MiB, bytesPerBlock: 64 * 1024, blockSize: 16, maxModelLen: 512 });
  if (!r.ok) throw new Error(r.message);
  t.equal(r.numBlocks, 160);
  t.equal(r.numTokens, 159 * 16);
  t.equal(r.maxModelLen, 512);
  t.equal(r.maxConcurrency, Math.floor(159 / 32));
  t.equal(r.warning, null);
  t.match(r.summary, /160 blocks of 16 tokens .* 4 full-length \(512-token\) sequences/);
  t.end();
});

t.test('a partial block of budget is not counted', (t) => {
  const r = sizeKvCache({ budgetBytes: 1000 * 3 + 999, bytesPerBlock: 1000, blockSize: 4, maxModelLen: 8 });
  t.ok(r.ok && r.numBlocks === 3 && r.numTokens === 8 && r.maxConcurrency === 1);
  t.end();
});

t.test('max-model-len that cannot fit once is lowered with a warning', (t) => {
  const r = sizeKvCache({ budgetBytes: 11 * 1000, bytesPerBlock: 1000, blockSize: 16, maxModelLen: 4096 });
  if (!r.ok) throw new Error(r.message);
  t.equal(r.numBlocks, 11);
  t.equal(r.maxModelLen, 160);
  t.equal(r.maxConcurrency, 1);
  t.match(r.warning, /--max-model-len 4096 does not fit .* lowered to 160/);
  t.end();
});

t.test('or refused with a message that says what to change', (t) => {
  const r = sizeKvCache({ budgetBytes: 11 * 1000, bytesPerBlock: 1000, blockSize: 16, maxModelLen: 4096, allowLowerMaxModelLen: false });
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.message, /needs 256 KV blocks.*only 10.*at most 160/);
  t.end();
});

t.test('a budget below two blocks is an error, not a crash later', (t) => {
  const r = sizeKvCache({ budgetBytes: 1999, bytesPerBlock: 1000, blockSize: 16, maxModelLen: 16 });
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.message, /holds 1 blocks.*at least 2/);
  const bad = sizeKvCache({ budgetBytes: 1e9, bytesPerBlock: 0, blockSize: 16, maxModelLen: 16 });
  t.equal(bad.ok, false);
  t.end();
});
