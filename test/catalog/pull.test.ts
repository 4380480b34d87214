import t from 'tap';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pull } from '../../src/catalog/pull.js';
import { hubConfigFromEnv, hubError, hubToken } from '../../src/catalog/hub-api.js';
import { readIndex } from '../../src/catalog/index-store.js';
import { resolveModel } from '../../src/catalog/resolve.js';
import { startMockHub, sha256, gitBlobSha1 } from './mock-hub.js';
import { safetensorsRepo, tempEnv, SHARD1 } from './helpers.js';

t.test('pull writes the huggingface_hub layout: refs, blobs named by hash, relative snapshot links', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const { commit, files } = hub.addRepo(safetensorsRepo('acme/tiny'));
  const { cache, env } = tempEnv(t, hub.url);

  const res = await pull('acme/tiny', { env });
  const repoDir = join(cache, 'models--acme--tiny');
  t.equal(res.commit, commit);
  t.equal(res.snapshotDir, join(repoDir, 'snapshots', commit));
  t.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), commit, 'refs/main holds the commit, no newline');

  const wanted = ['config.json', 'generation_config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'];
  t.same(readdirSync(res.snapshotDir).sort(), wanted, 'only what serving needs');
  for (const f of files.filter((x) => wanted.includes(x.path))) {
    const link = join(res.snapshotDir, f.path);
    t.ok(lstatSync(link).isSymbolicLink(), `${f.path} is a symlink`);
    const blob = f.lfs ? f.sha256 : f.blobId;
    t.equal(readlinkSync(link), `../../blobs/${blob}`, `${f.path} links relatively to its blob`);
    const data = readFileSync(realpathSync(link));
    t.equal(f.lfs ? sha256(data) : gitBlobSha1(data), blob, `${f.path}: the blob's hash is its name`);
  }
  t.notOk(readdirSync(join(repoDir, 'blobs')).some((n) => n.endsWith('.incomplete')), 'no partial blobs left');
  t.equal(statSync(join(cache, '.hipserve')).mode & 0o777, 0o700, 'bookkeeping dir 0700');
  t.equal(statSync(join(cache, '.hipserve', 'index.json')).mode & 0o777, 0o600, 'index 0600');
  const idx = await readIndex(cache);
  t.equal(idx['acme/tiny']?.trust, 'verified');
  t.equal(idx['acme/tiny']?.commit, commit);
  t.notOk(hub.requests.some((r) => r.origin === 'cdn' && r.authorization), 'no token sent anywhere without HF_TOKEN');

  // A second pull downloads nothing.
  hub.resetCounters();
  const again = await pull('acme/tiny', { env });
  t.equal(again.downloadedBytes, 0);
  t.equal(hub.gets('acme/tiny', SHARD1), 0);
});

t.test('HF_TOKEN goes to the hub as Bearer and is dropped on the redirect to the CDN origin', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo({ ...safetensorsRepo('acme/gated', 1000), gated: true, acceptedTokens: ['hf_good'] });
  const { env } = tempEnv(t, hub.url, { HF_TOKEN: 'hf_good' });
  await pull('acme/gated', { env });
  const hubReqs = hub.requests.filter((r) => r.origin === 'hub');
  t.ok(hubReqs.length > 0 && hubReqs.every((r) => r.authorization === 'Bearer hf_good'));
  const cdnReqs = hub.requests.filter((r) => r.origin === 'cdn');
  t.ok(cdnReqs.length > 0 && cdnReqs.every((r) => r.authorization === undefined));
  t.ok(existsSync(join(env.HF_HOME ?? '', 'hub', 'models--acme--gated', 'refs', 'main')));
});

t.test('the token file huggingface-cli login writes is used when no token variable is set', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo({ ...safetensorsRepo('acme/gated', 1000), gated: true, acceptedTokens: ['hf_good'] });
  const { home, env } = tempEnv(t, hub.url);
  writeFileSync(join(home, 'token'), 'hf_good\n'); // HF_HOME/token, with login's trailing newline
  await pull('acme/gated', { env });
  const hubReqs = hub.requests.filter((r) => r.origin === 'hub');
  t.ok(hubReqs.length > 0 && hubReqs.every((r) => r.authorization === 'Bearer hf_good'), 'HF_HOME/token, newline dropped');
  t.ok(hub.requests.filter((r) => r.origin === 'cdn').every((r) => r.authorization === undefined), 'still not sent to the CDN');

  // HF_TOKEN wins over the file; HF_TOKEN_PATH moves the file.
  writeFileSync(join(home, 'token'), 'hf_other');
  t.equal(hubToken({ ...env, HF_TOKEN: ' hf_env ' })?.token, 'hf_env');
  t.same(hubToken(env), { token: 'hf_other', source: join(home, 'token') });
  writeFileSync(join(home, 'elsewhere'), 'hf_moved');
  t.same(hubToken({ ...env, HF_TOKEN_PATH: join(home, 'elsewhere') }), { token: 'hf_moved', source: join(home, 'elsewhere') });
  t.equal(hubToken({ ...env, HF_TOKEN: '' })?.token, 'hf_other', 'an empty HF_TOKEN is no token');
  writeFileSync(join(home, 'token'), ' \n');
  t.equal(hubToken(env), undefined, 'a blank file is no token');
  t.equal(hubToken({ ...env, HF_TOKEN_PATH: join(home, 'missing') }), undefined, 'a missing file is no token');

  // A file the user set up but that cannot be read is an error naming it, not an anonymous pull.
  mkdirSync(join(home, 'dir-token'));
  t.throws(() => hubToken({ ...env, HF_TOKEN_PATH: join(home, 'dir-token') }), { code: 'HIPSERVE_ERR_CATALOG_HUB_AUTH', message: /cannot read the hub token file .*dir-token/ });

  // Refused: the message names where the token came from.
  writeFileSync(join(home, 'token'), 'hf_bad');
  await t.rejects(pull('acme/missing', { env }), { code: 'HIPSERVE_ERR_CATALOG_HUB_NOT_FOUND' });
  const fileEnv = { ...env, HF_TOKEN_PATH: join(home, 'token') };
  t.match(hubError(new Response('', { status: 401 }), hubConfigFromEnv(fileEnv), { repo: 'acme/x' }).message, `refused the token from ${join(home, 'token')}`);
});

t.test('HF_HUB_DISABLE_IMPLICIT_TOKEN: no token is sent, from the variables or the file', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo({ ...safetensorsRepo('acme/gated', 1000), gated: true, acceptedTokens: ['hf_good'] });
  hub.addRepo(safetensorsRepo('acme/open', 1000));
  const { home, env } = tempEnv(t, hub.url);
  writeFileSync(join(home, 'token'), 'hf_good\n');
  const off = { ...env, HF_TOKEN: 'hf_good', HF_HUB_DISABLE_IMPLICIT_TOKEN: 'True' };
  await pull('acme/open', { env: off });
  t.ok(hub.requests.length > 0 && hub.requests.every((r) => r.authorization === undefined), 'an open model is pulled without any token');
  await t.rejects(pull('acme/gated', { env: off }), { code: 'HIPSERVE_ERR_CATALOG_HUB_GATED', message: /unset HF_HUB_DISABLE_IMPLICIT_TOKEN/ });
  t.ok(hub.requests.every((r) => r.authorization === undefined), 'the gated one is refused: no token went out');
  t.match(hubError(new Response('', { status: 401 }), hubConfigFromEnv(off), { repo: 'acme/x' }).message, 'no token was sent because HF_HUB_DISABLE_IMPLICIT_TOKEN is set');
  // The file is not read at all: an unreadable one is no error then.
  mkdirSync(join(home, 'dir-token'));
  t.equal(hubConfigFromEnv({ ...off, HF_TOKEN_PATH: join(home, 'dir-token') }).token, undefined);
  // Other values leave the token on, as huggingface_hub's flag parsing does.
  t.equal(hubConfigFromEnv({ ...off, HF_HUB_DISABLE_IMPLICIT_TOKEN: '0' }).token, 'hf_good');
  await pull('acme/gated', { env: { ...off, HF_HUB_DISABLE_IMPLICIT_TOKEN: '' } });
  t.ok(hub.requests.some((r) => r.authorization === 'Bearer hf_good'), 'unset (empty): the token goes again');
});

t.test('clear errors for 401, 403 (gated) and 404', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  hub.addRepo({ ...safetensorsRepo('acme/gated', 100), gated: true, acceptedTokens: ['hf_good'] });
  hub.addRepo(safetensorsRepo('acme/open', 100));
  const anon = tempEnv(t, hub.url).env;
  await t.rejects(pull('acme/gated', { env: anon }), { code: 'HIPSERVE_ERR_CATALOG_HUB_GATED', message: /gated \(HTTP 401\).*HF_TOKEN/ });
  const wrong = tempEnv(t, hub.url, { HF_TOKEN: 'hf_other' }).env;
  await t.rejects(pull('acme/gated', { env: wrong }), { code: 'HIPSERVE_ERR_CATALOG_HUB_GATED', message: /HTTP 403.*accept its terms/ });
  await t.rejects(pull('acme/missing', { env: anon }), { code: 'HIPSERVE_ERR_CATALOG_HUB_AUTH', message: /not found or needs authentication/ });
  await t.rejects(pull('acme/missing', { env: wrong }), { code: 'HIPSERVE_ERR_CATALOG_HUB_NOT_FOUND', message: /acme\/missing not found/ });
  await t.rejects(pull('acme/open', { env: anon, revision: 'nope' }), { code: 'HIPSERVE_ERR_CATALOG_HUB_NOT_FOUND', message: /revision nope not found/ });
  await t.rejects(pull('acme/open', { env: anon, gguf: 'x.gguf' }), { code: 'HIPSERVE_ERR_CATALOG_HUB_NOT_FOUND' });
});

t.test('revisions: a branch writes refs/<branch>, refs/pr/N nests, a commit writes no ref', async (t) => {
  const hub = await startMockHub();
  t.teardown(() => hub.close());
  const commit40 = (ch: string): string => ch.repeat(40);
  const { commit } = hub.addRepo({ ...safetensorsRepo('acme/revs', 1000), refs: { 'refs/pr/1': commit40('a'), dev: commit40('a') } });
  const { cache, env } = tempEnv(t, hub.url);
  const repoDir = join(cache, 'models--acme--revs');
  const byCommit = await pull('acme/revs', { env, revision: commit });
  t.equal(byCommit.commit, commit);
  t.notOk(existsSync(join(repoDir, 'refs')), 'no ref file for a commit revision');
  t.equal(await resolveModel('acme/revs', { offline: true, env, revision: commit }), byCommit.snapshotDir);
  await t.rejects(resolveModel('acme/revs', { offline: true, env }), { code: 'HIPSERVE_ERR_CATALOG_NOT_CACHED' }, 'main is not known offline yet');
  t.equal(hub.gets('acme/revs', SHARD1), 1);

  const pr = await pull('acme/revs', { env, revision: 'refs/pr/1' });
  t.equal(readFileSync(join(repoDir, 'refs', 'refs', 'pr', '1'), 'utf8'), commit40('a'));
  t.equal(pr.snapshotDir, join(repoDir, 'snapshots', commit40('a')));
  await t.rejects(resolveModel('acme/revs', { offline: true, env, revision: 'dev' }), { code: 'HIPSERVE_ERR_CATALOG_NOT_CACHED' }, 'dev has no ref until pulled');
  await pull('acme/revs', { env, revision: 'dev' });
  t.equal(await resolveModel('acme/revs', { offline: true, env, revision: 'dev' }), pr.snapshotDir);
});
