// The backend and attention-backend registries as TypeScript sees them, the
// missing-backend error, NativeError's shape, and the loader's one message
// when no addon can be loaded.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fixtureModel } from '../fixtures/models.js';
import {
  addonCandidates,
  createKvCache,
  listAttentionBackends,
  listBackends,
  loadModel,
  NativeError,
  packageRoot,
  releaseKvCache,
  releaseModel,
} from '../../src/native.js';

t.test('cpu is registered with its capabilities', (t) => {
  const r = listBackends();
  if (!r.ok) throw r.error;
  const cpu = r.value.find((b) => b.name === 'cpu');
  t.ok(cpu, 'cpu is present');
  if (!cpu) return t.end();
  t.equal(cpu.available, true);
  t.equal(cpu.reason, '');
  t.same([...cpu.capabilities.dtypes].sort(), ['bf16', 'f16', 'f32', 'q8_0']);
  t.equal(cpu.capabilities.pagedKv, true);
  t.equal(cpu.capabilities.deviceMemory, false);
  t.match(cpu.simd, /^(scalar|avx2|avx512)$/);
  // Listed best first (highest score first).
  t.equal(r.value.at(-1)?.score, Math.min(...r.value.map((b) => b.score)));
  t.end();
});

t.test('the CPU paged attention is registered with what it handles', (t) => {
  const r = listAttentionBackends();
  if (!r.ok) throw r.error;
  const a = r.value.find((x) => x.backend === 'cpu');
  t.ok(a);
  if (!a) return t.end();
  t.equal(a.name, 'cpu-paged');
  t.same(a.kvDtypes, ['f32']);
  t.equal(a.pagedKv, true);
  t.equal(a.gqa, true);
  t.equal(a.mixedPrefillDecode, true);
  t.ok(a.maxHeadSize >= 256 && a.maxBlockSize >= 16);
  t.end();
});

t.test('asking for a missing backend names the ones present', async (t) => {
  const path = await fixtureModel('qwen2', 'gguf');
  const all = listBackends();
  if (!all.ok) throw all.error;
  const r = await loadModel(path, { device: 'no-such-backend' });
  t.equal(r.ok, false);
  if (!r.ok) {
    t.type(r.error, NativeError);
    t.type(r.error, Error);
    t.equal(r.error.code, 'HIPSERVE_E_NOT_FOUND');
    t.match(r.error.message, /no backend named 'no-such-backend'/);
    for (const b of all.value) t.match(r.error.message, b.name, `names ${b.name}`);
    t.equal(r.error.where, 'device');
    t.match(r.error.stack ?? '', /registry\.test/, 'the stack is the JavaScript caller');
  }
  // A backend registered but unusable here (HIP without a GPU) says why.
  for (const b of all.value.filter((x) => !x.available)) {
    const u = await loadModel(path, { device: b.name });
    t.equal(u.ok ? 'ok' : u.error.code, 'HIPSERVE_E_UNAVAILABLE', `${b.name} is unavailable`);
    if (!u.ok) t.ok(u.error.message.includes(b.reason), 'with its reason');
  }
  for (const device of ['cpu', 'auto', undefined]) {
    const ok = await loadModel(path, device === undefined ? {} : { device });
    t.equal(ok.ok ? ok.value.info.backend : ok.error.code, 'cpu', `device ${String(device)} -> cpu`);
    if (ok.ok) {
      const big = createKvCache(ok.value.handle, { numBlocks: 4, blockSize: 8192 });
      t.equal(big.ok ? 'ok' : big.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', 'a block size past 4096 is refused');
      const kv = createKvCache(ok.value.handle, { numBlocks: 4, blockSize: 16 });
      t.equal(kv.ok, true);
      if (kv.ok) releaseKvCache(kv.value.handle);
      releaseModel(ok.value.handle);
    }
  }
});

t.test('the loader tries HIPSERVE_ADDON first, then build/Release and build/Debug', (t) => {
  const root = packageRoot();
  t.ok(existsSync(join(root, 'package.json')));
  const release = join(root, 'build', 'Release', 'hipserve.node');
  const debug = join(root, 'build', 'Debug', 'hipserve.node');
  // addonCandidates() reads the variable at each call; the addon this
  // process uses is already loaded, so setting it here changes nothing else.
  const saved = process.env.HIPSERVE_ADDON;
  try {
    process.env.HIPSERVE_ADDON = '/elsewhere/hipserve.node';
    t.same(addonCandidates(), ['/elsewhere/hipserve.node', release, debug], 'HIPSERVE_ADDON set: it first');
    delete process.env.HIPSERVE_ADDON;
    t.same(addonCandidates(), [release, debug], 'unset: build/Release, then build/Debug');
    process.env.HIPSERVE_ADDON = '';
    t.same(addonCandidates(), [release, debug], 'empty: as unset');
  } finally {
    if (saved === undefined) delete process.env.HIPSERVE_ADDON;
    else process.env.HIPSERVE_ADDON = saved;
  }
  t.end();
});

t.test('with no addon anywhere, one error lists every attempt and what to do', (t) => {
  // A copy of src/native.ts (and the types it re-exports) in a package that has no build/ at all.
  const pkg = mkdtempSync(join(tmpdir(), 'hs-noaddon-'));
  t.teardown(() => {
    rmSync(pkg, { recursive: true, force: true });
  });
  mkdirSync(join(pkg, 'src'));
  writeFileSync(join(pkg, 'package.json'), '{"type":"module"}');
  for (const f of ['native.ts', 'native-types.ts']) copyFileSync(join(packageRoot(), 'src', f), join(pkg, 'src', f));
  const tsx = pathToFileURL(join(packageRoot(), 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const script = `import(${JSON.stringify(pathToFileURL(join(pkg, 'src', 'native.ts')).href)}).then((m) => {
    try { m.loadAddon(); console.log('LOADED'); } catch (e) { console.log(e.message); }
  });`;
  const r = spawnSync(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, HIPSERVE_ADDON: join(pkg, 'missing.node') },
    timeout: 30000,
  });
  const out = r.stdout;
  t.match(out, /could not be loaded/);
  // One line per attempt, in the order tried: HIPSERVE_ADDON (set above for the child), then Release, then Debug.
  const attempts = out.split('\n').filter((l) => l.endsWith(': not found')).map((l) => l.trim());
  t.same(
    attempts,
    [join(pkg, 'missing.node'), join(pkg, 'build', 'Release', 'hipserve.node'), join(pkg, 'build', 'Debug', 'hipserve.node')].map((p) => `${p}: not found`),
    'HIPSERVE_ADDON first, then build/Release, then build/Debug',
  );
  t.match(out, /npm ci/);
  t.match(out, /cmake/);
  t.end();
});
