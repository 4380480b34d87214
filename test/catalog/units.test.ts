// Small pure helpers: sizes, Retry-After, backoff bounds, file selection.
import t from 'tap';
import { parseSize, formatBytes } from '../../src/catalog/size.js';
import { backoffDelay, parseRetryAfter, DEFAULT_RETRY } from '../../src/catalog/retry.js';
import { selectServingFiles } from '../../src/catalog/select.js';
import { parseRevisionInfo } from '../../src/catalog/hub-api.js';
import { blobLinkTarget } from '../../src/catalog/snapshot.js';

t.test('sizes', (t) => {
  t.equal(parseSize('50GB'), 50e9);
  t.equal(parseSize('1.5GiB'), 1.5 * 2 ** 30);
  t.equal(parseSize('200m'), 200e6);
  t.equal(parseSize('123'), 123);
  t.equal(parseSize('0'), 0);
  for (const bad of ['lots', '-1GB', '5 parsecs', '']) t.equal(parseSize(bad), null, bad);
  t.equal(formatBytes(999), '999 B');
  t.equal(formatBytes(1_500_000), '1.50 MB');
  t.end();
});

t.test('Retry-After and backoff', (t) => {
  t.equal(parseRetryAfter('3'), 3000);
  t.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 10_000);
  t.equal(parseRetryAfter(null), undefined);
  t.equal(parseRetryAfter('soon'), undefined);
  t.equal(backoffDelay(DEFAULT_RETRY, 0, 10 ** 9), DEFAULT_RETRY.maxRetryAfterMs, 'a huge Retry-After is capped');
  for (let a = 0; a < 12; a++) t.ok(backoffDelay(DEFAULT_RETRY, a, undefined) <= DEFAULT_RETRY.maxMs);
  t.end();
});

t.test('serving file selection and link targets', (t) => {
  const info = parseRevisionInfo('a/b', {
    sha: 'f'.repeat(40),
    siblings: [
      { rfilename: 'config.json', size: 2, blobId: '1'.repeat(40) },
      { rfilename: 'model.safetensors', size: 9, blobId: '2'.repeat(40), lfs: { sha256: '3'.repeat(64), size: 9 } },
      { rfilename: 'pytorch_model.bin', size: 9, blobId: '4'.repeat(40), lfs: { sha256: '5'.repeat(64), size: 9 } },
      { rfilename: 'sub/config.json', size: 2, blobId: '6'.repeat(40) },
      { rfilename: 'chat_template.jinja', size: 2, blobId: '7'.repeat(40) },
    ],
  });
  t.same(selectServingFiles('a/b', info.files).map((f) => f.path), ['config.json', 'model.safetensors', 'chat_template.jinja']);
  t.equal(info.files[1]?.sha256, '3'.repeat(64));
  t.equal(info.files[1]?.size, 9);
  t.equal(blobLinkTarget('config.json', 'x'), '../../blobs/x');
  t.equal(blobLinkTarget('q4/m.gguf', 'x'), '../../../blobs/x');
  t.throws(() => parseRevisionInfo('a/b', { sha: 'main', siblings: [] }), { code: 'HIPSERVE_ERR_CATALOG_HUB_BAD_RESPONSE' });
  t.throws(() => parseRevisionInfo('a/b', { sha: 'f'.repeat(40), siblings: [{ rfilename: 'x', size: -1, blobId: '1'.repeat(40) }] }), { code: 'HIPSERVE_ERR_CATALOG_HUB_BAD_RESPONSE' });
  t.end();
});
