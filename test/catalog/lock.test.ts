// The per-model advisory lock: exclusive, stale locks of dead pids taken over,
// other hosts' locks respected, release deletes only our own lock.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLock, readHolder, type LockHolder } from '../../src/catalog/lock.js';

function dir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'hipserve-lock-'));
  t.teardown(() => { rmSync(d, { recursive: true, force: true }); });
  return d;
}

let dead: number | undefined;
const deadPid = (): number => (dead ??= spawnSync(process.execPath, ['-e', '']).pid);

t.test('exclusive among concurrent waiters', async (t) => {
  const path = join(dir(t), 'm.lock');
  let active = 0;
  let maxActive = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    const lock = await acquireLock(path, { wait: true, pollMs: 5 });
    active++;
    maxActive = Math.max(maxActive, active);
    await sleep(5);
    active--;
    lock?.release();
  }));
  t.equal(maxActive, 1);
  t.notOk(existsSync(path), 'released');
});

t.test('lock file: O_EXCL, 0600, pid + hostname', async (t) => {
  const path = join(dir(t), 'm.lock');
  const lock = await acquireLock(path, { wait: false });
  t.ok(lock);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.match(readHolder(path), { pid: process.pid, host: hostname() });
  t.equal(await acquireLock(path, { wait: false }), null, 'held by a live process (us)');
  lock?.release();
});

t.test('a stale lock of a dead pid is taken over; another host is respected', async (t) => {
  const d = dir(t);
  const stale = join(d, 'stale.lock');
  writeFileSync(stale, JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'old', since: 0 }));
  writeFileSync(`${stale}.break`, JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'brk', since: 0 }));
  const lock = await acquireLock(stale, { wait: false });
  t.ok(lock, 'taken over (a breaker left by a dead process does not block)');
  t.equal(readHolder(stale)?.pid, process.pid);
  lock?.release();

  const remote = join(d, 'remote.lock');
  writeFileSync(remote, JSON.stringify({ pid: deadPid(), host: 'some-other-host', nonce: 'r', since: 0 }));
  t.equal(await acquireLock(remote, { wait: false }), null, 'a pid on another host cannot be checked, so it is not stale');
  // The remote lock is removed only once the waiter has said it waits: it
  // then holds no lock yet, and must take it on a later poll.
  let waiting: (holder: LockHolder | null) => void = () => undefined;
  const told = new Promise<LockHolder | null>((resolve) => { waiting = resolve; });
  const p = acquireLock(remote, { wait: true, pollMs: 5, onWait: (h) => { waiting(h); } });
  // (A waiter that took the lock at once, never telling, must not hang the test.)
  const first = await Promise.race([told.then((holder) => ({ holder })), p.then((lock) => ({ lock }))]);
  if ('lock' in first) {
    first.lock?.release();
    t.fail('took a lock another host holds without waiting');
    return;
  }
  t.match(first.holder, { host: 'some-other-host', nonce: 'r' }, 'told the caller it was waiting, and for whom');
  rmSync(remote);
  const got = await p;
  t.ok(got, 'taken once the remote lock is gone');
  t.equal(readHolder(remote)?.pid, process.pid);
  got?.release();
});

t.test('release removes only our own lock', async (t) => {
  const path = join(dir(t), 'm.lock');
  const lock = await acquireLock(path, { wait: false });
  writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'someone-else', since: 0 }));
  lock?.release();
  t.ok(existsSync(path));
  t.match(readFileSync(path, 'utf8'), /someone-else/);
});
