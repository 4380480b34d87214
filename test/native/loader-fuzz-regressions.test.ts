// Regressions from fuzzing the native loaders (/tmp/fuzz-loaders): each
// corrupt file, built here from a generated fixture, must come back as an
// error Result naming the file and the field or tensor -- never an abort, a
// runaway allocation or an error that names neither -- and files the
// formats forbid must not load with silently shifted data. Huge counts are
// shown on sparse files (truncate), so nothing here allocates or writes GBs.
import t, { type Test } from 'tap';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureModel } from '../fixtures/models.js';
import { ggufMetadata, loadModel, releaseModel } from '../../src/native.js';
import {
  GGUF_KV_COUNT_AT,
  GGUF_TENSOR_COUNT_AT,
  ggufKey,
  joinSafetensors,
  splitSafetensors,
  type StTensor,
} from '../helpers/model-patch.js';

// Files >= 64 MiB would be read into memory by default: the sparse ones must stay mapped.
process.env.HIPSERVE_WEIGHTS = 'mmap';

const root = mkdtempSync(join(tmpdir(), 'hs-fuzz-native-'));
t.teardown(() => {
  rmSync(root, { recursive: true, force: true });
});

const SPARSE_SIZE = 1 << 30; // 1 GiB of holes: no disk, no memory

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Expect {
  code: string;
  message: RegExp[];
  where: string;
}

async function expectLoadError(t: Test, path: string, e: Expect): Promise<void> {
  const start = Date.now();
  const r = await loadModel(path, { device: 'cpu' });
  if (r.ok) {
    releaseModel(r.value.handle);
    t.fail(`${path} loaded`);
    return;
  }
  t.equal(r.error.code, e.code, `code (${r.error.message})`);
  for (const re of e.message) t.match(r.error.message, re);
  t.equal(r.error.where, e.where, 'names the file');
  t.ok(Date.now() - start < 10_000, 'answers quickly');
}

function expectMetaError(t: Test, path: string, e: Expect): void {
  const r = ggufMetadata(path);
  t.equal(r.ok ? 'ok' : r.error.code, e.code, 'ggufMetadata: code');
  if (r.ok) return;
  for (const re of e.message) t.match(r.error.message, re, 'ggufMetadata: message');
  t.equal(r.error.where, e.where, 'ggufMetadata: names the file');
}

t.test('GGUF', async (t) => {
  const src = await fixtureModel('llama', 'gguf', { tokenizer: 'llama2' });
  const good = readFileSync(src);
  const write = (buf: Buffer): string => {
    const p = join(mkdtempSync(join(root, 'gg-')), 'model.gguf');
    writeFileSync(p, buf);
    return p;
  };
  const patched = (fn: (b: Buffer) => void): string => {
    const b = Buffer.from(good);
    fn(b);
    return write(b);
  };

  t.test('an array count that swallows a sparse 1 GiB file: an error, not an abort', async (t) => {
    // token_type holds i32: a count covering everything up to the last byte
    // passes the "fits in the file" check, so only not allocating per
    // element keeps this from a std::bad_alloc abort (was: ~110 B per element).
    const { valueAt } = ggufKey(good, 'tokenizer.ggml.token_type');
    const countAt = valueAt + 4;
    const p = patched((b) => {
      b.writeBigUInt64LE(BigInt(Math.floor((SPARSE_SIZE - (countAt + 8)) / 4)), countAt);
    });
    truncateSync(p, SPARSE_SIZE);
    const e = { code: 'HIPSERVE_E_BAD_FORMAT', message: [/tokenizer\.ggml\.token_type/, /past the end/], where: p };
    expectMetaError(t, p, e);
    await expectLoadError(t, p, e);
  });

  t.test('a metadata count on a sparse 1 GiB file: an error, not an abort', async (t) => {
    const p = patched((b) => {
      b.writeBigUInt64LE(BigInt(Math.floor(SPARSE_SIZE / 12) - 1), GGUF_KV_COUNT_AT);
    });
    truncateSync(p, SPARSE_SIZE);
    const e = { code: 'HIPSERVE_E_BAD_FORMAT', message: [/header field 'metadata\[\d+\] key'/], where: p };
    expectMetaError(t, p, e);
    await expectLoadError(t, p, e);
  });

  t.test('a block_count far beyond the tensors is refused before any per-layer allocation', async (t) => {
    const { valueAt } = ggufKey(good, 'llama.block_count');
    for (const n of [5_000_000, 50_000_000, 2 ** 31 - 1]) {
      const p = patched((b) => b.writeUInt32LE(n, valueAt));
      await expectLoadError(t, p, {
        code: 'HIPSERVE_E_BAD_FORMAT',
        message: [new RegExp(`header field 'llama\\.block_count' = ${String(n)}`), /too few for that many layers/, /blk\.2\.attn_norm\.weight/],
        where: p,
      });
    }
  });

  t.test('a block_count of 2^31 names the key, not std::bad_alloc', async (t) => {
    const { valueAt } = ggufKey(good, 'llama.block_count');
    const p = patched((b) => b.writeUInt32LE(2 ** 31, valueAt));
    await expectLoadError(t, p, {
      code: 'HIPSERVE_E_BAD_FORMAT',
      message: [/header field 'llama\.block_count' = 2147483648 is not a positive size/],
      where: p,
    });
  });

  t.test('a token id out of int32 range is refused, naming the key', async (t) => {
    const { valueAt } = ggufKey(good, 'tokenizer.ggml.eos_token_id');
    const p = patched((b) => b.writeUInt32LE(0xffffffff, valueAt));
    await expectLoadError(t, p, {
      code: 'HIPSERVE_E_BAD_FORMAT',
      message: [/header field 'tokenizer\.ggml\.eos_token_id'/, /not a token id/],
      where: p,
    });
    const q = patched((b) => b.writeUInt32LE(40000, valueAt)); // past the 32000-token vocabulary
    await expectLoadError(t, q, {
      code: 'HIPSERVE_E_BAD_FORMAT',
      message: [/header field 'tokenizer\.ggml\.eos_token_id' = 40000/, /vocabulary/],
      where: q,
    });
  });

  t.test('tensor_count one short: refused instead of loading data 64 bytes early', async (t) => {
    const p = patched((b) => b.writeBigUInt64LE(b.readBigUInt64LE(GGUF_TENSOR_COUNT_AT) - 1n, GGUF_TENSOR_COUNT_AT));
    const e = { code: 'HIPSERVE_E_BAD_FORMAT', message: [/header field 'tensor_count' = 20/, /unaccounted/], where: p };
    await expectLoadError(t, p, e);
    expectMetaError(t, p, e);
  });

  t.test('a tensor offset out of header order is refused (llama.cpp refuses it too)', async (t) => {
    // token_embd.weight is the first tensor: its offset must be 0.
    const at = good.indexOf(Buffer.from('token_embd.weight')) + 'token_embd.weight'.length + 4 + 2 * 8 + 4;
    t.equal(good.readBigUInt64LE(at), 0n, 'found the offset field');
    const p = patched((b) => b.writeBigUInt64LE(32n, at));
    await expectLoadError(t, p, { code: 'HIPSERVE_E_BAD_FORMAT', message: [/tensor 'token_embd\.weight'/, /expected 0/], where: p });
  });

  t.test('a duplicate metadata key is refused, naming it (llama.cpp refuses it too)', async (t) => {
    // Rename llama.rope.freq_base to llama.context_length (same length).
    const { keyAt } = ggufKey(good, 'llama.rope.freq_base');
    const p = patched((b) => b.write('llama.context_length', keyAt + 8, 'utf8'));
    const e = { code: 'HIPSERVE_E_BAD_FORMAT', message: [/header field 'llama\.context_length'/, /appears twice/], where: p };
    await expectLoadError(t, p, e);
    expectMetaError(t, p, e);
  });

  t.test('ggufMetadata still returns whole arrays, read from the mapping', (t) => {
    const r = ggufMetadata(src);
    if (!r.ok) throw new Error(r.error.message);
    const types = r.value.metadata['tokenizer.ggml.token_type'];
    t.ok(Array.isArray(types) && types.length === 32000 && types.every((x) => typeof x === 'number'));
    const tokens = r.value.metadata['tokenizer.ggml.tokens'];
    t.ok(Array.isArray(tokens) && tokens[1] === '<s>', 'strings decoded');
    t.end();
  });
});

t.test('safetensors', async (t) => {
  const src = await fixtureModel('llama', 'safetensors', { tokenizer: 'llama2' });
  const good = readFileSync(join(src, 'model.safetensors'));
  const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  // A directory with the fixture's files; `weights` / `config` replace them.
  const dirWith = (opts: { weights?: Buffer; config?: Record<string, unknown> }): { dir: string; file: string; cfgFile: string } => {
    const d = mkdtempSync(join(root, 'st-'));
    const cfgFile = join(d, 'config.json');
    if (opts.config) writeFileSync(cfgFile, JSON.stringify(opts.config));
    else copyFileSync(join(src, 'config.json'), cfgFile);
    const file = join(d, 'model.safetensors');
    if (opts.weights) writeFileSync(file, opts.weights);
    else symlinkSync(join(src, 'model.safetensors'), file);
    return { dir: d, file, cfgFile };
  };

  t.test('num_hidden_layers out of range names the field and config.json', async (t) => {
    for (const n of [-2, 0, 1e15, 2 ** 31]) {
      const { dir, cfgFile } = dirWith({ config: { ...cfg, num_hidden_layers: n } });
      await expectLoadError(t, dir, {
        code: 'HIPSERVE_E_BAD_FORMAT',
        message: [new RegExp(`field 'num_hidden_layers' = ${escape(String(n))} is not a positive size`)],
        where: cfgFile,
      });
    }
    const { dir, cfgFile } = dirWith({ config: { ...cfg, num_hidden_layers: 5_000_000 } });
    await expectLoadError(t, dir, {
      code: 'HIPSERVE_E_BAD_FORMAT',
      message: [/field 'num_hidden_layers' = 5000000/, /too few for that many layers/, /model\.layers\.2\.input_layernorm\.weight/],
      where: cfgFile,
    });
  });

  t.test('eos_token_id must be a token id of the vocabulary', async (t) => {
    for (const [eos, re] of [
      [2 ** 63, /field 'eos_token_id'.*not a token id/],
      [[2, 1.5], /field 'eos_token_id'.*not a token id/],
      [-3, /field 'eos_token_id'.*not a token id/],
      [5_000_000, /field 'eos_token_id' = 5000000 is not a token id of the vocabulary/],
    ] as const) {
      const { dir, cfgFile } = dirWith({ config: { ...cfg, eos_token_id: eos } });
      await expectLoadError(t, dir, { code: 'HIPSERVE_E_BAD_FORMAT', message: [re], where: cfgFile });
    }
  });

  t.test('header_len one short (the header ends in a space) is refused instead of shifting the data', async (t) => {
    const { header, data } = splitSafetensors(good);
    const json = `${JSON.stringify(header)}  `;
    const { dir, file } = dirWith({ weights: joinSafetensors(json, data, Buffer.byteLength(json) - 1) });
    await expectLoadError(t, dir, { code: 'HIPSERVE_E_BAD_FORMAT', message: [/header field 'header_len'/, /end with the last tensor/], where: file });
  });

  t.test('fractional data_offsets are refused', async (t) => {
    const { header, data } = splitSafetensors(good);
    const name = 'model.layers.1.self_attn.k_proj.weight';
    const e = header[name] as StTensor;
    const text = JSON.stringify(header).replace(
      JSON.stringify(e.data_offsets),
      `[${String(e.data_offsets[0])}.5,${String(e.data_offsets[1])}.5]`,
    );
    const { dir, file } = dirWith({ weights: joinSafetensors(text, data) });
    await expectLoadError(t, dir, { code: 'HIPSERVE_E_BAD_FORMAT', message: [new RegExp(`'${escape(name)}'`), /data_offsets/, /not integers/], where: file });
  });

  t.test('data_offsets shifted by one byte (overlapping the next tensor) are refused', async (t) => {
    const { header, data } = splitSafetensors(good);
    const e = header['model.layers.1.self_attn.o_proj.weight'] as StTensor;
    e.data_offsets = [e.data_offsets[0] + 1, e.data_offsets[1] + 1];
    const { dir, file } = dirWith({ weights: joinSafetensors(header, data) });
    await expectLoadError(t, dir, { code: 'HIPSERVE_E_BAD_FORMAT', message: [/data_offsets/, /overlap/], where: file });
  });
});

t.test('after all that, the fixtures still load', async (t) => {
  for (const p of [await fixtureModel('llama', 'gguf', { tokenizer: 'llama2' }), await fixtureModel('llama', 'safetensors', { tokenizer: 'llama2' })]) {
    const r = await loadModel(p, { device: 'cpu' });
    t.equal(r.ok, true, p);
    if (r.ok) releaseModel(r.value.handle);
  }
});
