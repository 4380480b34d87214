// list / rm / gc / verify through the CLI, in-use markers, and resolveModel.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { runCatalog, type CatalogIo } from '../../src/catalog/cli.js';
import { modelLockPath, touchLastUsed, readIndex } from '../../src/catalog/index-store.js';
import { acquireLock } from '../../src/catalog/lock.js';
import type { GcResult, ModelInfo, VerifyResult } from '../../src/catalog/manage.js';
import { pull } from '../../src/catalog/pull.js';
import { markInUse, resolveModel } from '../../src/catalog/resolve.js';
import { startMockHub, bytes } from './mock-hub.js';
import { safetensorsRepo, tempEnv, SHARD1 } from './helpers.js';

async function cli(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CatalogIo = { out: (s) => { out += s; }, err: (s) => { err += s; }, env, tty: false };
  const code = await runCatalog(argv, io);
  return { code, out, err };
}

t.test('list shows name, revision, size, last used and trust; rm removes', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo(safetensorsRepo('acme/one', 10_000));
  hub.addRepo(safetensorsRepo('acme/two', 20_000, 5));
  const { cache, env } = tempEnv(t, hub.url);
  t.equal((await cli(env, 'pull', 'acme/one')).code, 0);
  const pulled = await cli(env, 'pull', 'acme/two', '--json');
  t.equal(pulled.code, 0);
  t.match(JSON.parse(pulled.out), { repo: 'acme/two', revision: 'main' });

  const human = await cli(env, 'list');
  t.match(human.out, /NAME\s+REVISION\s+SIZE\s+LAST USED\s+TRUST/);
  t.match(human.out, /acme\/one\s+main \([0-9a-f]{8}\)\s+\d+(\.\d+)? kB\s+\d+s ago\s+verified/);
  const list = JSON.parse((await cli(env, 'list', '--json')).out) as ModelInfo[];
  t.same(list.map((m) => m.repo), ['acme/one', 'acme/two']);
  t.ok((list[1]?.size ?? 0) > 40_000, 'size counts the blobs on disk');

  const rm = await cli(env, 'rm', 'acme/one');
  t.equal(rm.code, 0);
  t.match(rm.out, /removed acme\/one \(\d+(\.\d+)? kB reclaimed\)/);
  t.notOk(existsSync(join(cache, 'models--acme--one')));
  t.equal((await readIndex(cache))['acme/one'], undefined);
  const again = await cli(env, 'rm', 'acme/one');
  t.equal(again.code, 1);
  t.match(again.err, /^hipserve rm: acme\/one is not in the cache/);
  t.equal((await cli(env, 'gc')).code, 2, 'gc without --max-size is a usage error');
  t.equal((await cli(env, 'gc', '--max-size', 'lots')).code, 2);
  t.equal((await cli(env, 'frobnicate')).code, 2);
});

t.test('gc evicts least recently used first, skips models in use, ignores stale markers', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { cache, env } = tempEnv(t, hub.url);
  const names = ['acme/a', 'acme/b', 'acme/c', 'acme/d'];
  const paths: string[] = [];
  for (const [i, n] of names.entries()) {
    hub.addRepo(safetensorsRepo(n, 50_000, i + 1));
    paths.push((await pull(n, { env })).snapshotDir);
  }
  // Last used: a oldest ... d newest.
  for (const [i, n] of names.entries()) await touchLastUsed(cache, n, 1_000_000 + i);
  const release = markInUse(paths[0] ?? '', env); // a: oldest but served
  t.teardown(release);
  // b has a marker from a process that is gone: stale, does not protect it.
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  mkdirSync(join(cache, '.hipserve', 'inuse', 'models--acme--b'), { recursive: true });
  writeFileSync(join(cache, '.hipserve', 'inuse', 'models--acme--b', `${dead}-x`), JSON.stringify({ pid: dead, host: hostname() }));

  const listed = JSON.parse((await cli(env, 'list', '--json')).out) as ModelInfo[];
  const per = listed[0]?.size ?? 0;
  t.same(listed.map((m) => m.inUseBy.length > 0), [true, false, false, false]);
  const res = await cli(env, 'gc', '--max-size', String(per * 2 + 10), '--json');
  t.equal(res.code, 0, res.err);
  const report = JSON.parse(res.out) as GcResult;
  t.same(report.removed.map((r) => r.repo), ['acme/b', 'acme/c'], 'oldest not-in-use first, then stop');
  t.equal(report.reclaimedBytes, report.removed.reduce((a, r) => a + r.size, 0));
  t.ok(report.reclaimedBytes >= per * 2);
  t.ok(existsSync(join(cache, 'models--acme--a')), 'the served model stayed');
  t.ok(existsSync(join(cache, 'models--acme--d')));

  const rmBusy = await cli(env, 'rm', 'acme/a');
  t.equal(rmBusy.code, 1);
  t.match(rmBusy.err, new RegExp(`in use by a running server \\(pid ${process.pid}\\)`));
  release();
  const human = await cli(env, 'gc', '--max-size', '0');
  t.match(human.out, /2 models removed, .* reclaimed; cache now 0 B/);
});

t.test('verify re-hashes blobs and marks trust; pull repairs a corrupted blob', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { files } = hub.addRepo(safetensorsRepo('acme/v', 30_000));
  const { env } = tempEnv(t, hub.url);
  const res = await pull('acme/v', { env });
  const ok = await cli(env, 'verify', 'acme/v');
  t.equal(ok.code, 0);
  t.match(ok.out, /ok {3}model-00001-of-00002.safetensors/);

  const blob = realpathSync(join(res.snapshotDir, SHARD1));
  const data = readFileSync(blob);
  data[100] ^= 1;
  writeFileSync(blob, data);
  const bad = await cli(env, 'verify', 'acme/v', '--json');
  t.equal(bad.code, 1);
  const v = JSON.parse(bad.out) as VerifyResult;
  t.notOk(v.ok);
  const shardSha = files.find((f) => f.path === SHARD1)?.sha256 ?? '';
  t.match(v.files.find((f) => f.path === SHARD1)?.problem, new RegExp(`sha256 mismatch: expected ${shardSha}, got [0-9a-f]{64}`));
  t.match((await cli(env, 'list')).out, /acme\/v .* unverified/);

  hub.resetCounters();
  await pull('acme/v', { env });
  t.equal(hub.gets('acme/v', SHARD1), 1, 'the bad blob was re-hashed, dropped and fetched again');
  t.equal(hub.gets('acme/v', 'config.json'), 0, 'good blobs were kept');
  t.equal((await cli(env, 'verify', 'acme/v')).code, 0);
  t.match((await cli(env, 'list')).out, /acme\/v .* verified/);
});

t.test('resolveModel: local paths, pull when missing, offline, GGUF files', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo(safetensorsRepo('acme/r', 5_000));
  const gguf = hub.addRepo({ id: 'acme/g-GGUF', files: [
    { path: 'config.json', data: Buffer.from('{}') },
    { path: 'm.Q4_K_M.gguf', data: bytes(3000, 3), lfs: true },
    { path: 'm.Q8_0.gguf', data: bytes(5000, 4), lfs: true },
  ] });
  const { home, env } = tempEnv(t, hub.url);
  t.equal(await resolveModel(home, { offline: true, env }), home, 'a local directory as is');
  const local = join(home, 'x.gguf');
  writeFileSync(local, 'GGUF');
  t.equal(await resolveModel(local, { offline: true, env }), local);
  await t.rejects(resolveModel('./nope/model', { offline: false, env }), { code: 'HIPSERVE_ERR_CATALOG_NOT_FOUND' });

  await t.rejects(resolveModel('acme/r', { offline: true, env }), { code: 'HIPSERVE_ERR_CATALOG_NOT_CACHED', message: /offline mode is on.*hipserve pull acme\/r/ });
  await t.rejects(resolveModel('acme/r', { offline: false, env: { ...env, HF_HUB_OFFLINE: '1' } }), { code: 'HIPSERVE_ERR_CATALOG_NOT_CACHED' });
  const lines: string[] = [];
  const snap = await resolveModel('acme/r', { offline: false, env, onProgress: (e) => lines.push(e.type) });
  t.ok(lines.includes('plan') && lines.includes('done'), 'pulled with progress');
  hub.resetCounters();
  t.equal(await resolveModel('acme/r', { offline: false, env }), snap, 'second time from the cache');
  t.equal(hub.requests.length, 0, 'without touching the network');
  t.equal(await resolveModel('acme/r', { offline: true, env }), snap);

  await t.rejects(resolveModel('acme/g-GGUF', { offline: false, env, onProgress: () => undefined }), { code: 'HIPSERVE_ERR_CATALOG_NO_FILES', message: /several GGUF files.*acme\/g-GGUF:<file.gguf>.*m.Q4_K_M.gguf/ });
  const file = await resolveModel('acme/g-GGUF:m.Q8_0.gguf', { offline: false, env, onProgress: () => undefined });
  t.equal(file, join(home, 'hub', 'models--acme--g-GGUF', 'snapshots', gguf.commit, 'm.Q8_0.gguf'));
  t.same(readFileSync(file), gguf.files.find((f) => f.path === 'm.Q8_0.gguf')?.data);
  t.equal(hub.gets('acme/g-GGUF', 'm.Q4_K_M.gguf'), 0, 'only the chosen GGUF was fetched');
  t.equal(await resolveModel('acme/g-GGUF:m.Q8_0.gguf', { offline: true, env }), file);
});

t.test('rm and gc leave a model alone while a pull holds its lock', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo(safetensorsRepo('acme/busy', 1000));
  const { cache, env } = tempEnv(t, hub.url);
  await pull('acme/busy', { env });
  const lock = await acquireLock(modelLockPath(cache, 'acme/busy'), { wait: false });
  t.teardown(() => lock?.release());
  const rm = await cli(env, 'rm', 'acme/busy');
  t.equal(rm.code, 1);
  t.match(rm.err, new RegExp(`acme/busy is being pulled by another process \\(pid ${process.pid}\\)`));
  const gcRes = JSON.parse((await cli(env, 'gc', '--max-size', '0', '--json')).out) as GcResult;
  t.same(gcRes.removed, []);
  t.same(gcRes.skipped, ['acme/busy']);
  t.ok(existsSync(join(cache, 'models--acme--busy')));
});
