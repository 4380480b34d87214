// Separate processes: kill -9 mid-pull, and two pulls of one model at once.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { pull } from '../../src/catalog/pull.js';
import { resolveModel } from '../../src/catalog/resolve.js';
import { startMockHub, sha256 } from './mock-hub.js';
import { safetensorsRepo, tempEnv, SHARD1, SHARD2 } from './helpers.js';

const CHILD = fileURLToPath(new URL('./cli-child.ts', import.meta.url));

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<Ran> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // stdio is 'pipe', so both streams exist.
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<Ran>((res) => {
    child.on('close', (code, signal) => { res({ code, signal, stdout, stderr }); });
  });
  return { child, done };
}

t.test('kill -9 during a pull leaves no visible partial model; the next pull resumes and completes', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const SIZE = 400_000;
  const { files, commit } = hub.addRepo(safetensorsRepo('acme/killed', SIZE));
  hub.fault('acme/killed', SHARD1, { kind: 'trickle', chunkBytes: 8000, delayMs: 25 });
  const { cache, env } = tempEnv(t, hub.url);
  const { child, done } = run(['pull', 'acme/killed'], env);
  t.teardown(() => { child.kill('SIGKILL'); });
  while (hub.bytesServed('acme/killed', SHARD1) < 80_000) {
    if (child.exitCode !== null) break;
    await sleep(10);
  }
  child.kill('SIGKILL');
  const ran = await done;
  t.equal(ran.signal, 'SIGKILL', 'the pull was killed mid-transfer');

  const repoDir = join(cache, 'models--acme--killed');
  const snaps = existsSync(join(repoDir, 'snapshots')) ? readdirSync(join(repoDir, 'snapshots')) : [];
  t.same(snaps, [], 'no snapshot directory visible');
  t.notOk(existsSync(join(repoDir, 'refs', 'main')), 'no ref');
  const shardSha = files.find((f) => f.path === SHARD1)?.sha256 ?? '';
  t.notOk(existsSync(join(repoDir, 'blobs', shardSha)), 'the interrupted shard is not a visible blob');
  for (const b of readdirSync(join(repoDir, 'blobs'))) {
    if (b.endsWith('.incomplete')) continue;
    const f = files.find((x) => x.sha256 === b || x.blobId === b);
    t.ok(f, `visible blob ${b} belongs to the repo`);
    if (f?.lfs) t.equal(sha256(readFileSync(join(repoDir, 'blobs', b))), b, 'and is complete');
  }
  await t.rejects(resolveModel('acme/killed', { offline: true, env }), { code: 'HIPSERVE_ERR_CATALOG_NOT_CACHED' }, 'offline resolve does not see a partial model');

  hub.resetCounters();
  const res = await pull('acme/killed', { env });
  t.equal(res.commit, commit);
  t.ok(hub.bytesServed('acme/killed', SHARD1) < SIZE, 'the stale lock was taken over and the shard resumed, not restarted');
  for (const p of [SHARD1, SHARD2]) t.same(readFileSync(join(res.snapshotDir, p)), files.find((f) => f.path === p)?.data);
  t.equal(await resolveModel('acme/killed', { offline: true, env }), res.snapshotDir);
});

t.test('two processes pulling one model both succeed and the bytes are downloaded once', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { files } = hub.addRepo(safetensorsRepo('acme/shared', 200_000));
  hub.fault('acme/shared', SHARD1, { kind: 'trickle', chunkBytes: 20_000, delayMs: 20 });
  const { env } = tempEnv(t, hub.url);
  const a = run(['pull', 'acme/shared', '--json'], env);
  const b = run(['pull', 'acme/shared', '--json'], env);
  t.teardown(() => { a.child.kill('SIGKILL'); b.child.kill('SIGKILL'); });
  const [ra, rb] = await Promise.all([a.done, b.done]);
  t.equal(ra.code, 0, ra.stderr);
  t.equal(rb.code, 0, rb.stderr);
  const pa = JSON.parse(ra.stdout) as { path: string; downloadedBytes: number };
  const pb = JSON.parse(rb.stdout) as { path: string; downloadedBytes: number };
  t.equal(pa.path, pb.path, 'both report the same snapshot');
  t.equal(pa.downloadedBytes + pb.downloadedBytes, files.filter((f) => !['README.md', 'pytorch_model.bin', 'onnx/model.onnx'].includes(f.path)).reduce((s, f) => s + f.data.length, 0), 'one of them downloaded everything, the other nothing');
  for (const f of files) {
    if (['README.md', 'pytorch_model.bin', 'onnx/model.onnx'].includes(f.path)) continue;
    t.equal(hub.gets('acme/shared', f.path), 1, `${f.path} fetched once`);
  }
  t.ok(/waiting for another pull/.test(ra.stderr + rb.stderr), 'the second one said it was waiting');
});
