// Broken checkpoints written from a valid fixture: each must come back as an
// error Result naming the file and the tensor (or header field), never a
// crash; the process then still loads a good model.
import t from 'tap';
import type { Test } from 'tap';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureModel } from '../fixtures/models.js';
import { ggufMetadata, loadModel, releaseModel } from '../../src/native.js';

interface StHeader {
  [name: string]: { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>;
}
interface StTensor {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const root = mkdtempSync(join(tmpdir(), 'hs-broken-'));
t.teardown(() => {
  rmSync(root, { recursive: true, force: true });
});

function splitSt(buf: Buffer): { header: StHeader; data: Buffer } {
  const len = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as StHeader, data: buf.subarray(8 + len) };
}
function joinSt(header: StHeader, data: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}
function tensor(h: StHeader, name: string): StTensor {
  return h[name] as StTensor;
}

async function expectError(t: Test, path: string, code: string, patterns: RegExp[], where: string | RegExp): Promise<void> {
  const r = await loadModel(path);
  t.equal(r.ok, false, 'loading fails');
  if (r.ok) {
    releaseModel(r.value.handle);
    return;
  }
  t.equal(r.error.code, code);
  for (const p of patterns) t.match(r.error.message, p);
  if (typeof where === 'string') t.equal(r.error.where, where, 'names the file');
  else t.match(r.error.where, where, 'names the file');
}

t.test('broken safetensors checkpoints', async (t) => {
  const src = await fixtureModel('qwen3', 'safetensors');
  const good = readFileSync(join(src, 'model.safetensors'));
  const { header, data } = splitSt(good);
  // A directory with the fixture's config.json and the given weights file.
  const dirWith = (weights: Buffer | null, config?: string): { dir: string; file: string } => {
    const d = mkdtempSync(join(root, 'st-'));
    if (config === undefined) copyFileSync(join(src, 'config.json'), join(d, 'config.json'));
    else writeFileSync(join(d, 'config.json'), config);
    const file = join(d, 'model.safetensors');
    if (weights) writeFileSync(file, weights);
    else symlinkSync(join(src, 'model.safetensors'), file);
    return { dir: d, file };
  };

  t.test('truncated data section', async (t) => {
    const cut = good.subarray(0, good.length - 4096);
    const { dir, file } = dirWith(cut);
    const dataLen = data.length - 4096;
    const past = Object.keys(header).filter((k) => k !== '__metadata__' && tensor(header, k).data_offsets[1] > dataLen);
    t.ok(past.length > 0);
    const r = await loadModel(dir);
    t.equal(r.ok ? 'ok' : r.error.code, 'HIPSERVE_E_BAD_FORMAT');
    if (!r.ok) {
      t.ok(past.some((name) => r.error.message.includes(`'${name}'`)), `names a cut tensor: ${r.error.message}`);
      t.match(r.error.message, /truncated/);
      t.equal(r.error.where, file);
    }
  });

  t.test('header length past the end of the file', async (t) => {
    const bad = Buffer.from(good.subarray(0, 4096));
    bad.writeBigUInt64LE(0xffffffffn, 0);
    const { dir, file } = dirWith(bad);
    await expectError(t, dir, 'HIPSERVE_E_BAD_FORMAT', [/header_len/], file);
  });

  t.test('empty file', async (t) => {
    const { dir, file } = dirWith(Buffer.alloc(0));
    await expectError(t, dir, 'HIPSERVE_E_BAD_FORMAT', [/header_len/], file);
  });

  t.test('bad JSON in the header', async (t) => {
    const bad = Buffer.from(good);
    bad.write('x', 8); // the header's opening brace
    const { dir, file } = dirWith(bad);
    await expectError(t, dir, 'HIPSERVE_E_BAD_FORMAT', [/invalid JSON/], file);
  });

  t.test('tensor offsets past the end', async (t) => {
    const h = structuredClone(header);
    const name = 'model.layers.1.self_attn.o_proj.weight';
    const e = tensor(h, name);
    const size = e.data_offsets[1] - e.data_offsets[0];
    e.data_offsets = [data.length, data.length + size];
    const { dir, file } = dirWith(joinSt(h, data));
    await expectError(t, dir, 'HIPSERVE_E_BAD_FORMAT', [new RegExp(`'${name.replaceAll('.', '\\.')}'`), /past the end/], file);
  });

  t.test('size that does not match dtype x shape', async (t) => {
    const h = structuredClone(header);
    const name = 'model.layers.0.mlp.down_proj.weight';
    tensor(h, name).shape = [64, 161];
    const { dir, file } = dirWith(joinSt(h, data));
    await expectError(t, dir, 'HIPSERVE_E_BAD_FORMAT', [/down_proj/, /needs/], file);
  });

  t.test('missing tensor', async (t) => {
    const h = structuredClone(header);
    const name = 'model.layers.1.mlp.up_proj.weight';
    t.ok(name in h);
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- removing one tensor by name is the point
    delete h[name];
    const { dir } = dirWith(joinSt(h, data));
    await expectError(t, dir, 'HIPSERVE_E_NOT_FOUND', [/model\.layers\.1\.mlp\.up_proj\.weight/], dir);
  });

  t.test('shape that disagrees with config.json', async (t) => {
    const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
    cfg.intermediate_size = 128;
    const { dir, file } = dirWith(null, JSON.stringify(cfg));
    await expectError(
      t,
      dir,
      'HIPSERVE_E_BAD_FORMAT',
      [/model\.layers\.0\.mlp\.gate_proj\.weight/, /shape \[160, 64\], expected \[128, 64\]/],
      file,
    );
  });

  t.test('bad config.json', async (t) => {
    const { dir } = dirWith(null, '{"model_type": "qwen3", "hidden_size": 64,');
    await expectError(t, dir, 'HIPSERVE_E_BAD_FORMAT', [/invalid JSON/], join(dir, 'config.json'));
  });

  t.test('unsupported architecture', async (t) => {
    const { dir } = dirWith(null, '{"model_type": "gpt2"}');
    await expectError(t, dir, 'HIPSERVE_E_UNSUPPORTED', [/gpt2/], join(dir, 'config.json'));
  });

  t.test('no weights at all', async (t) => {
    const d = mkdtempSync(join(root, 'st-'));
    copyFileSync(join(src, 'config.json'), join(d, 'config.json'));
    await expectError(t, d, 'HIPSERVE_E_NOT_FOUND', [/model\.safetensors/], d);
  });
});

t.test('broken GGUF files', async (t) => {
  const src = await fixtureModel('qwen2', 'gguf');
  const good = readFileSync(src);
  const write = (buf: Buffer): string => {
    const p = join(mkdtempSync(join(root, 'gg-')), 'model.gguf');
    writeFileSync(p, buf);
    return p;
  };

  t.test('bad magic', async (t) => {
    const bad = Buffer.from(good.subarray(0, 1024));
    bad.write('GGUX', 0);
    const p = write(bad);
    await expectError(t, p, 'HIPSERVE_E_BAD_FORMAT', [/magic/], p);
  });

  t.test('truncated data section names a tensor', async (t) => {
    const p = write(good.subarray(0, good.length - 10000));
    await expectError(t, p, 'HIPSERVE_E_BAD_FORMAT', [/tensor '[a-z0-9_.]+'/, /past the end/], p);
    const meta = ggufMetadata(p);
    t.equal(meta.ok ? 'ok' : meta.error.code, 'HIPSERVE_E_BAD_FORMAT', 'ggufMetadata refuses it too');
  });

  t.test('truncated header names the field', async (t) => {
    const p = write(good.subarray(0, 4000)); // inside the vocabulary array
    await expectError(t, p, 'HIPSERVE_E_BAD_FORMAT', [/header field '/, /past the end/], p);
  });

  t.test('a string length past the end of the file', async (t) => {
    const bad = Buffer.from(good);
    bad.writeBigUInt64LE(1n << 60n, 24); // length of the first metadata key
    const p = write(bad);
    await expectError(t, p, 'HIPSERVE_E_BAD_FORMAT', [/metadata\[0\] key/, /past the end/], p);
  });

  t.test('a tensor count the file cannot hold', async (t) => {
    const bad = Buffer.from(good);
    bad.writeBigUInt64LE(1n << 40n, 8);
    const p = write(bad);
    await expectError(t, p, 'HIPSERVE_E_BAD_FORMAT', [/tensor_count/], p);
  });

  t.test('an unknown version', async (t) => {
    const bad = Buffer.from(good.subarray(0, 1024));
    bad.writeUInt32LE(99, 4);
    const p = write(bad);
    await expectError(t, p, 'HIPSERVE_E_UNSUPPORTED', [/version/], p);
  });

  t.test('a file that does not exist', async (t) => {
    const p = join(root, 'nope.gguf');
    await expectError(t, p, 'HIPSERVE_E_NOT_FOUND', [/no such/], p);
  });
});

t.test('after all that, a good model still loads', async (t) => {
  const r = await loadModel(await fixtureModel('qwen2', 'gguf'));
  t.equal(r.ok, true);
  if (r.ok) releaseModel(r.value.handle);
});
