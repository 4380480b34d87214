// Separate processes: kill -9 mid-pull, and two pulls of one model at once.
import t from 'tap';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

function run(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcessByStdio<null, Readable, Readable>; done: Promise<Ran>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // stdio is 'pipe', so both streams exist.
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<Ran>((res) => {
    child.on('close', (code, signal) => { res({ code, signal, stdout, stderr }); });
  });
  return { child, done, stderr: () => stderr };
}

t.test('kill -9 during a pull leaves no visible partial model; the next pull resumes and completes', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const SIZE = 400_000;
  const { files, commit } = hub.addRepo(safetensorsRepo('acme/killed', SIZE));
  // SHARD1 stops after 80 kB; once those bytes are on disk the pull is killed.
  let release = (): void => undefined;
  hub.fault('acme/killed', SHARD1, { kind: 'hold', afterBytes: 80_000, until: new Promise<void>((r) => { release = r; }) });
  const { cache, env } = tempEnv(t, hub.url);
  const shardSha = files.find((f) => f.path === SHARD1)?.sha256 ?? '';
  const partial = join(cache, 'models--acme--killed', 'blobs', `${shardSha}.incomplete`);
  const { child, done } = run(['pull', 'acme/killed'], env);
  t.teardown(() => { release(); child.kill('SIGKILL'); });
  const sizeOnDisk = (): number => { try { return statSync(partial).size; } catch { return 0; } };
  while (sizeOnDisk() < 80_000 && child.exitCode === null) await sleep(10);
  child.kill('SIGKILL');
  const ran = await done;
  release();
  t.equal(ran.signal, 'SIGKILL', 'the pull was killed mid-transfer');

  const repoDir = join(cache, 'models--acme--killed');
  const snaps = existsSync(join(repoDir, 'snapshots')) ? readdirSync(join(repoDir, 'snapshots')) : [];
  t.same(snaps, [], 'no snapshot directory visible');
  t.notOk(existsSync(join(repoDir, 'refs', 'main')), 'no ref');
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
  t.equal(hub.bytesServed('acme/killed', SHARD1), SIZE - 80_000, 'the stale lock was taken over and the shard resumed where the killed pull stopped');
  for (const p of [SHARD1, SHARD2]) t.same(readFileSync(join(res.snapshotDir, p)), files.find((f) => f.path === p)?.data);
  t.equal(await resolveModel('acme/killed', { offline: true, env }), res.snapshotDir);
});

t.test('two processes pulling one model both succeed and the bytes are downloaded once', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { files } = hub.addRepo(safetensorsRepo('acme/shared', 200_000));
  // The first pull to reach SHARD1 stalls there until the other one reports
  // that it waits for the lock, so the two really overlap however slow the machine.
  let release = (): void => undefined;
  const until = new Promise<void>((r) => { release = r; });
  hub.fault('acme/shared', SHARD1, { kind: 'hold', afterBytes: 50_000, until });
  const { env } = tempEnv(t, hub.url);
  const a = run(['pull', 'acme/shared', '--json'], env);
  const b = run(['pull', 'acme/shared', '--json'], env);
  t.teardown(() => { release(); a.child.kill('SIGKILL'); b.child.kill('SIGKILL'); });
  const waiting = new Promise<void>((r) => {
    const check = (): void => { if (/waiting for another pull/.test(a.stderr() + b.stderr())) r(); };
    a.child.stderr.on('data', check);
    b.child.stderr.on('data', check);
  });
  await waiting;
  release();
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
