// Names from users and from the hub can never escape the cache root.
import t from 'tap';
import { mkdirSync, symlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOG_ERRORS } from '../../src/catalog/errors.js';
import { cacheRoot, repoFolderName, repoIdFromFolder, safeJoin, validateRepoFilename, validateRepoId, validateRevision } from '../../src/catalog/paths.js';
import { pull } from '../../src/catalog/pull.js';
import { resolveModel } from '../../src/catalog/resolve.js';
import { verifyModel } from '../../src/catalog/manage.js';
import { runCatalog } from '../../src/catalog/cli.js';
import { startMockHub, bytes } from './mock-hub.js';
import { safetensorsRepo, tempEnv } from './helpers.js';

t.test('error codes are unique, prefixed, and map to exit 1 or 2', (t) => {
  const codes = Object.keys(CATALOG_ERRORS);
  t.equal(new Set(codes).size, codes.length);
  for (const [code, e] of Object.entries(CATALOG_ERRORS)) {
    t.match(code, /^HIPSERVE_ERR_CATALOG_[A-Z_]+$/);
    t.ok([1, 2].includes(e.exit));
  }
  t.end();
});

t.test('model ids, revisions and file names are validated', (t) => {
  for (const ok of ['Qwen/Qwen3-0.6B', 'gpt2', 'TheBloke/Llama-2-7B-GGUF', 'a.b/c_d']) t.doesNotThrow(() => { validateRepoId(ok); }, ok);
  for (const bad of ['../etc', 'a/..', 'a/../b', '/abs', 'a/b/c', 'a--b/c', 'a/b..c', '.hidden/x', 'a\\b', 'a/ b', '', 'a/', 'x/y\u0000']) {
    t.throws(() => { validateRepoId(bad); }, { code: 'HIPSERVE_ERR_CATALOG_INVALID_ID' }, JSON.stringify(bad));
  }
  for (const ok of ['main', 'v1.0', 'refs/pr/1', 'a'.repeat(40)]) t.doesNotThrow(() => { validateRevision(ok); }, ok);
  for (const bad of ['..', '../main', 'a/../../b', '/main', 'a//b', 'a\\b', '-rf', 'x.lock', 'a b', '']) {
    t.throws(() => { validateRevision(bad); }, { code: 'HIPSERVE_ERR_CATALOG_INVALID_REVISION' }, JSON.stringify(bad));
  }
  for (const ok of ['config.json', 'Q4_K_M/model.gguf', '.gitattributes']) t.doesNotThrow(() => { validateRepoFilename(ok); }, ok);
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'C:/x', 'a\\..\\x', 'a//b', './x', 'a/.', '', 'x\ny']) {
    t.throws(() => { validateRepoFilename(bad); }, { code: 'HIPSERVE_ERR_CATALOG_INVALID_FILENAME' }, JSON.stringify(bad));
  }
  t.equal(repoFolderName('org/name'), 'models--org--name');
  t.equal(repoIdFromFolder('models--org--name'), 'org/name');
  t.equal(repoIdFromFolder('models--..--x'), null);
  t.equal(repoIdFromFolder('datasets--a--b'), null);
  t.throws(() => safeJoin('/cache', '../x'), { code: 'HIPSERVE_ERR_CATALOG_UNSAFE_PATH' });
  t.equal(cacheRoot({ HF_HOME: '/h' }), '/h/hub');
  t.equal(cacheRoot({ HF_HOME: '/h', HF_HUB_CACHE: '/c' }), '/c');
  t.end();
});

t.test('the CLI refuses traversal with a usage error and touches nothing', async (t) => {
  const { cache, env } = tempEnv(t, 'http://127.0.0.1:9');
  for (const args of [['pull', '../../etc'], ['pull', 'a/b', '--revision', '../../x'], ['pull', 'a/b:../../x.gguf'], ['rm', '../x'], ['verify', 'a/../b']]) {
    const err: string[] = [];
    const code = await runCatalog(args, { out: () => undefined, err: (s) => err.push(s), env, tty: false });
    t.equal(code, 2, args.join(' '));
    t.equal(err.join('').trim().split('\n').length, 1, 'one line on stderr');
  }
  t.notOk(existsSync(cache), 'nothing created');
});

t.test('hostile file names in the hub listing are refused before anything is written', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  for (const [i, name] of ['../../../escape.safetensors', '/etc/evil.safetensors', 'a\\..\\..\\x.safetensors'].entries()) {
    const id = `acme/hostile${i}`;
    hub.addRepo({ ...safetensorsRepo(id, 100), extraSiblings: [{ rfilename: name, size: 3, blobId: 'a'.repeat(40), lfs: { sha256: 'b'.repeat(64), size: 3 } }] });
    const { home, env } = tempEnv(t, hub.url);
    await t.rejects(pull(id, { env }), { code: 'HIPSERVE_ERR_CATALOG_INVALID_FILENAME' }, name);
    t.same(readdirSync(home), [], 'nothing written');
  }
  // A malformed blob hash could otherwise name a path under blobs/.
  hub.addRepo({ ...safetensorsRepo('acme/badhash', 100), extraSiblings: [{ rfilename: 'x.safetensors', size: 3, blobId: 'a'.repeat(40), lfs: { sha256: '../../../../x', size: 3 } }] });
  await t.rejects(pull('acme/badhash', { env: tempEnv(t, hub.url).env }), { code: 'HIPSERVE_ERR_CATALOG_HUB_BAD_RESPONSE' });
});

t.test('a snapshot link planted to point outside the cache root is refused', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo(safetensorsRepo('acme/planted', 1000));
  const { home, env } = tempEnv(t, hub.url);
  const res = await pull('acme/planted', { env });
  const outside = join(home, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), bytes(10));
  symlinkSync(join(outside, 'secret'), join(res.snapshotDir, 'tokenizer.model'));
  const v = await verifyModel('acme/planted', env);
  t.notOk(v.ok);
  t.match(v.files.find((f) => f.path === 'tokenizer.model')?.problem, /outside the cache root/);

  // Offline resolution of a GGUF whose link escapes is refused too.
  symlinkSync(join(outside, 'secret'), join(res.snapshotDir, 'evil.gguf'));
  await t.rejects(resolveModel('acme/planted:evil.gguf', { offline: true, env }), { code: 'HIPSERVE_ERR_CATALOG_UNSAFE_PATH' });
});

t.test('pull never writes through a directory link planted in an existing snapshot', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { commit } = hub.addRepo({ id: 'acme/g', files: [{ path: 'q4/m.gguf', data: bytes(100), lfs: true }, { path: 'config.json', data: Buffer.from('{}') }] });
  const { home, cache, env } = tempEnv(t, hub.url);
  const snap = join(cache, 'models--acme--g', 'snapshots', commit);
  mkdirSync(snap, { recursive: true });
  const outside = join(home, 'outside');
  mkdirSync(outside);
  symlinkSync(outside, join(snap, 'q4'));
  await t.rejects(pull('acme/g', { env, gguf: 'q4/m.gguf' }), { code: 'HIPSERVE_ERR_CATALOG_UNSAFE_PATH' });
  t.same(readdirSync(outside), [], 'nothing written outside the cache');

  // Same for a blobs/ directory that is a link out of the cache.
  hub.addRepo({ id: 'acme/h', files: [{ path: 'm.gguf', data: bytes(100), lfs: true }] });
  mkdirSync(join(cache, 'models--acme--h'), { recursive: true });
  symlinkSync(outside, join(cache, 'models--acme--h', 'blobs'));
  await t.rejects(pull('acme/h', { env, gguf: 'm.gguf' }), { code: 'HIPSERVE_ERR_CATALOG_UNSAFE_PATH' });
  t.same(readdirSync(outside), []);
});
