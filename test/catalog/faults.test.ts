// Injected hub faults: cuts, 5xx, 429, wrong bytes, trickle, ignored Range.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pull } from '../../src/catalog/pull.js';
import type { PullEvent } from '../../src/catalog/progress.js';
import { startMockHub } from './mock-hub.js';
import { safetensorsRepo, tempEnv, SHARD1, SHARD2 } from './helpers.js';

const SIZE = 200_000;

t.test('a connection cut mid-file is resumed with Range, without re-fetching what arrived', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { files } = hub.addRepo(safetensorsRepo('acme/cut', SIZE));
  hub.fault('acme/cut', SHARD1, { kind: 'cut', afterBytes: 70_000 });
  const { cache, env } = tempEnv(t, hub.url);
  const events: PullEvent[] = [];
  const res = await pull('acme/cut', { env, onProgress: (e) => events.push(e) });
  t.equal(hub.gets('acme/cut', SHARD1), 2, 'two requests for the shard');
  t.equal(hub.bytesServed('acme/cut', SHARD1), SIZE, 'bytes served add up to the file size exactly: nothing fetched twice');
  const ranged = hub.requests.filter((r) => r.origin === 'cdn' && r.range !== undefined);
  t.same(ranged.map((r) => r.range), ['bytes=70000-'], 'the retry asked for the rest');
  t.ok(events.some((e) => e.type === 'file-start' && e.path === SHARD1 && e.resumeFrom === 70_000), 'progress says it resumed');
  t.ok(events.some((e) => e.type === 'retry' && e.path === SHARD1));
  const shard = files.find((f) => f.path === SHARD1);
  t.same(readFileSync(join(res.snapshotDir, SHARD1)), shard?.data);
  t.notOk(readdirSync(join(cache, 'models--acme--cut', 'blobs')).some((n) => n.endsWith('.incomplete')));
});

t.test('a partial file left by a failed pull is resumed by the next pull', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { files } = hub.addRepo(safetensorsRepo('acme/later', SIZE));
  const sha = files.find((f) => f.path === SHARD2)?.sha256 ?? '';
  hub.fault('acme/later', SHARD2, { kind: 'cut', afterBytes: 120_000 });
  const { cache, env } = tempEnv(t, hub.url, { HIPSERVE_HUB_RETRIES: '0' });
  await t.rejects(pull('acme/later', { env }), { message: /connection closed after 120000 of 200000|terminated|other side closed/ });
  const blobs = join(cache, 'models--acme--later', 'blobs');
  t.equal(statSync(join(blobs, `${sha}.incomplete`)).size, 120_000, 'the partial stays for resume');
  t.notOk(existsSync(join(blobs, sha)), 'but is not visible as a blob');
  t.notOk(existsSync(join(cache, 'models--acme--later', 'snapshots')) && readdirSync(join(cache, 'models--acme--later', 'snapshots')).length > 0, 'no snapshot published');
  t.notOk(existsSync(join(cache, 'models--acme--later', 'refs', 'main')), 'no ref written');

  hub.resetCounters();
  await pull('acme/later', { env });
  t.equal(hub.bytesServed('acme/later', SHARD2), SIZE - 120_000, 'second pull fetched only the missing tail');
  t.equal(hub.bytesServed('acme/later', SHARD1), 0, 'the finished shard was not fetched again');
});

t.test('5xx then success, and 429 with Retry-After honoured', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo(safetensorsRepo('acme/flaky', 10_000));
  hub.fault('acme/flaky', 'api', { kind: 'status', status: 503 });
  hub.fault('acme/flaky', SHARD1, { kind: 'status', status: 500 }, { kind: 'status', status: 502 });
  hub.fault('acme/flaky', 'config.json', { kind: 'status', status: 429, retryAfter: '1' });
  const { env } = tempEnv(t, hub.url);
  const retries: PullEvent[] = [];
  await pull('acme/flaky', { env, onProgress: (e) => { if (e.type === 'retry') retries.push(e); } });
  const byPath = (p: string): PullEvent[] => retries.filter((e) => e.type === 'retry' && e.path === p);
  t.equal(byPath('(file list)').length, 1);
  t.equal(byPath(SHARD1).length, 2);
  const r429 = byPath('config.json');
  t.equal(r429.length, 1);
  t.equal(r429[0]?.type === 'retry' ? r429[0].delayMs : -1, 1000, 'waited what Retry-After said');
});

t.test('retries are bounded', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo(safetensorsRepo('acme/down', 1000));
  const always = Array.from({ length: 10 }, () => ({ kind: 'status' as const, status: 503 }));
  hub.fault('acme/down', 'tokenizer.json', ...always);
  const { env } = tempEnv(t, hub.url, { HIPSERVE_HUB_RETRIES: '2' });
  await t.rejects(pull('acme/down', { env }), { message: /HTTP 503/ });
  t.equal(hub.requests.filter((r) => r.url.endsWith('/tokenizer.json')).length, 3, 'first try + 2 retries');
});

t.test('wrong bytes are rejected before the blob becomes visible', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { files } = hub.addRepo(safetensorsRepo('acme/evil', SIZE));
  hub.fault('acme/evil', SHARD1, { kind: 'corrupt' });
  hub.fault('acme/evil', 'tokenizer.json', { kind: 'corrupt' });
  const { cache, env } = tempEnv(t, hub.url);
  const shard = files.find((f) => f.path === SHARD1);
  const tok = files.find((f) => f.path === 'tokenizer.json');
  const err = await pull('acme/evil', { env }).then(() => null, (e: unknown) => e as Error);
  t.ok(err);
  t.match(err?.message, new RegExp(`${SHARD1}: hash mismatch, expected sha256 ${shard?.sha256 ?? ''}, got [0-9a-f]{64}`), 'LFS file: names expected and actual sha256');
  t.match(err?.message, new RegExp(`tokenizer.json: hash mismatch, expected git-sha1 ${tok?.blobId ?? ''}, got [0-9a-f]{40}`), 'small file: git blob sha1');
  const blobs = readdirSync(join(cache, 'models--acme--evil', 'blobs'));
  t.notOk(blobs.includes(shard?.sha256 ?? ''), 'no blob under the expected name');
  t.notOk(blobs.some((n) => n.endsWith('.incomplete')), 'the partial was deleted');
  t.notOk(existsSync(join(cache, 'models--acme--evil', 'refs', 'main')), 'model not published');

  // The hub serves good bytes again: the pull completes.
  const res = await pull('acme/evil', { env });
  t.same(readFileSync(join(res.snapshotDir, SHARD1)), shard?.data);
});

t.test('a slow trickle completes, and a server ignoring Range restarts cleanly', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { files } = hub.addRepo(safetensorsRepo('acme/slow', 20_000));
  hub.fault('acme/slow', SHARD1, { kind: 'trickle', chunkBytes: 1000, delayMs: 5 });
  hub.fault('acme/slow', SHARD2, { kind: 'cut', afterBytes: 5000 }, { kind: 'ignore-range' });
  const { env } = tempEnv(t, hub.url);
  let bytesEvents = 0;
  const res = await pull('acme/slow', { env, onProgress: (e) => { if (e.type === 'bytes' && e.path === SHARD1) bytesEvents++; } });
  t.ok(bytesEvents >= 10, 'progress reported as bytes trickled in');
  for (const p of [SHARD1, SHARD2]) t.same(readFileSync(join(res.snapshotDir, p)), files.find((f) => f.path === p)?.data, `${p} intact`);
});

t.test('a stalled body is aborted by the idle timeout and resumed', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo(safetensorsRepo('acme/stall', 20_000));
  hub.fault('acme/stall', SHARD1, { kind: 'trickle', chunkBytes: 4000, delayMs: 2000 });
  const { env } = tempEnv(t, hub.url, { HIPSERVE_HUB_IDLE_TIMEOUT_MS: '300' });
  await pull('acme/stall', { env });
  t.equal(hub.gets('acme/stall', SHARD1), 2);
  t.equal(hub.requests.filter((r) => r.origin === 'cdn' && r.range === 'bytes=4000-').length, 1, 'resumed after the first chunk');
});

t.test('a bad partial file on disk is detected after resume and the file is fetched again from scratch', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { files } = hub.addRepo(safetensorsRepo('acme/badpart', SIZE));
  const shard = files.find((f) => f.path === SHARD1);
  const { cache, env } = tempEnv(t, hub.url);
  const blobs = join(cache, 'models--acme--badpart', 'blobs');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(blobs, `${shard?.sha256 ?? ''}.incomplete`), Buffer.alloc(50_000, 7));
  const res = await pull('acme/badpart', { env });
  t.same(readFileSync(join(res.snapshotDir, SHARD1)), shard?.data);
  t.equal(hub.bytesServed('acme/badpart', SHARD1), SIZE - 50_000 + SIZE, 'resumed tail, then the whole file once more');
});

t.test('pull refuses to touch the network when HF_HUB_OFFLINE is set', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo(safetensorsRepo('acme/off', 100));
  const { env } = tempEnv(t, hub.url, { HF_HUB_OFFLINE: '1' });
  await t.rejects(pull('acme/off', { env }), { code: 'HIPSERVE_ERR_CATALOG_NETWORK', message: /HF_HUB_OFFLINE/ });
  t.equal(hub.requests.length, 0);
});
