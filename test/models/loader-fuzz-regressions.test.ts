// Regressions from fuzzing the TypeScript loaders (/tmp/fuzz-loaders):
// readGguf and loadTokenizer on corrupt files built here from generated
// fixtures must throw an error naming the file and the key or field --
// never run the JS heap out (fatal), never a bare SyntaxError or a tokenizer
// library message that names no file. Huge counts are shown on sparse files
// (truncate), so nothing here allocates or writes GBs.
import t, { type Test } from 'tap';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureModel } from '../fixtures/models.js';
import { GgufError, readGguf } from '../../src/models/gguf-reader.js';
import { loadTokenizer, TokenizerError } from '../../src/models/tokenizer.js';
import { GGUF_KV_COUNT_AT, GGUF_TENSOR_COUNT_AT, ggufKey } from '../helpers/model-patch.js';

const root = mkdtempSync(join(tmpdir(), 'hs-fuzz-ts-'));
t.teardown(() => {
  rmSync(root, { recursive: true, force: true });
});

const SPARSE_SIZE = 1 << 30; // 1 GiB of holes: no disk, no memory

async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  return null;
}

t.test('GGUF', async (t) => {
  const src = await fixtureModel('llama', 'gguf', { tokenizer: 'llama2' });
  const good = readFileSync(src);
  const patched = (fn: (b: Buffer) => void): string => {
    const b = Buffer.from(good);
    fn(b);
    const p = join(mkdtempSync(join(root, 'gg-')), 'model.gguf');
    writeFileSync(p, b);
    return p;
  };
  const expectGgufError = async (t: Test, p: string, res: RegExp[]): Promise<void> => {
    for (const [what, fn] of [
      ['readGguf', () => readGguf(p)],
      ['loadTokenizer', () => loadTokenizer(p)],
    ] as const) {
      const start = Date.now();
      const err = await thrown(fn);
      t.ok(err instanceof GgufError, `${what}: a GgufError (${String(err)})`);
      const msg = (err as Error).message;
      t.ok(msg.startsWith(`${p}: `), `${what}: names the file`);
      for (const re of res) t.match(msg, re, `${what}: says what broke`);
      t.ok(Date.now() - start < 10_000, `${what}: answers quickly`);
    }
  };

  t.test('an array count that swallows a sparse 1 GiB file: an error, not a fatal JS heap OOM', async (t) => {
    const { valueAt } = ggufKey(good, 'tokenizer.ggml.token_type');
    const countAt = valueAt + 4;
    const p = patched((b) => {
      b.writeBigUInt64LE(BigInt(Math.floor((SPARSE_SIZE - (countAt + 8)) / 4)), countAt);
    });
    truncateSync(p, SPARSE_SIZE);
    await expectGgufError(t, p, [/truncated/, /after key tokenizer\.ggml\.token_type/]);
  });

  t.test('a string array count past the real items names the key', async (t) => {
    // tokens: 134M zero-length strings fit in 1 GiB of holes (8 bytes each).
    const { valueAt } = ggufKey(good, 'tokenizer.ggml.tokens');
    const countAt = valueAt + 4;
    const p = patched((b) => {
      b.writeBigUInt64LE(BigInt(Math.floor((SPARSE_SIZE - (countAt + 8)) / 8)), countAt);
    });
    truncateSync(p, SPARSE_SIZE);
    const err = await thrown(() => readGguf(p));
    t.ok(err instanceof GgufError, `a GgufError (${String(err)})`);
    t.match((err as Error).message, /tokenizer\.ggml\.tokens/);
  });

  t.test('a metadata count on a sparse 1 GiB file', async (t) => {
    const p = patched((b) => {
      b.writeBigUInt64LE(BigInt(Math.floor((SPARSE_SIZE - 24) / 12)), GGUF_KV_COUNT_AT); // fits the 12-byte minimum per entry
    });
    truncateSync(p, SPARSE_SIZE);
    await expectGgufError(t, p, [/metadata entry \d+/]);
  });

  t.test('a duplicate key is refused (first-wins and last-wins readers would disagree)', async (t) => {
    const { keyAt } = ggufKey(good, 'llama.rope.freq_base');
    const p = patched((b) => b.write('llama.context_length', keyAt + 8, 'utf8'));
    await expectGgufError(t, p, [/appears twice/, /metadata key llama\.context_length/]);
  });

  t.test('tensor_count one short is refused', async (t) => {
    const p = patched((b) => b.writeBigUInt64LE(b.readBigUInt64LE(GGUF_TENSOR_COUNT_AT) - 1n, GGUF_TENSOR_COUNT_AT));
    await expectGgufError(t, p, [/tensor_count 20/, /unaccounted/]);
  });

  t.test('an EOS id out of range names the key', async (t) => {
    const { valueAt } = ggufKey(good, 'tokenizer.ggml.eos_token_id');
    const p = patched((b) => b.writeUInt32LE(0xffffffff, valueAt));
    const err = await thrown(() => loadTokenizer(p));
    t.ok(err instanceof GgufError, String(err));
    t.match((err as Error).message, new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*not a token id.*tokenizer\\.ggml\\.eos_token_id`));
  });
});

t.test('tokenizer files of a model directory', async (t) => {
  const src = await fixtureModel('llama', 'safetensors', { tokenizer: 'llama2' });
  const tokJson = readFileSync(join(src, 'tokenizer.json'), 'utf8');
  const tokCfg = readFileSync(join(src, 'tokenizer_config.json'), 'utf8');
  /** A directory with the fixture's tokenizer files, `file` replaced by `text`. */
  const dirWith = (file: string, text: string): { dir: string; path: string } => {
    const dir = mkdtempSync(join(root, 'tok-'));
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'config.json']) copyFileSync(join(src, f), join(dir, f));
    writeFileSync(join(dir, file), text);
    return { dir, path: join(dir, file) };
  };
  const expectBad = async (t: Test, file: string, text: string, res: RegExp[]): Promise<void> => {
    const { dir, path } = dirWith(file, text);
    const err = await thrown(() => loadTokenizer(dir));
    t.ok(err instanceof TokenizerError, `a TokenizerError (${String(err)})`);
    if (!(err instanceof TokenizerError)) return;
    t.equal(err.code, 'HIPSERVE_ERR_BAD_TOKENIZER');
    t.equal(err.file, path, 'names the file');
    t.ok(err.message.startsWith(`${path}: `), 'the message names the file');
    for (const re of res) t.match(err.message, re);
  };
  const tok = JSON.parse(tokJson) as Record<string, unknown> & { model: { merges: unknown[] } };

  t.test('truncated tokenizer.json', (t) => expectBad(t, 'tokenizer.json', tokJson.slice(0, 5000), [/invalid JSON/, /SyntaxError/]));
  t.test('truncated tokenizer_config.json', (t) => expectBad(t, 'tokenizer_config.json', tokCfg.slice(0, 100), [/invalid JSON/]));
  t.test('broken generation_config.json', (t) => expectBad(t, 'generation_config.json', '{"eos_token_id": ', [/invalid JSON/]));
  t.test('tokenizer.json that is not an object', (t) => expectBad(t, 'tokenizer.json', '[1, 2]', [/not a JSON object/]));
  t.test('an unknown normalizer', (t) =>
    expectBad(t, 'tokenizer.json', JSON.stringify({ ...tok, normalizer: { type: 'Nope' } }), [/tokenizer cannot be built/, /Unknown Normalizer type: Nope/]));
  t.test('a malformed merge', (t) => {
    const merges = [...tok.model.merges];
    merges[100] = ['a'];
    return expectBad(t, 'tokenizer.json', JSON.stringify({ ...tok, model: { ...tok.model, merges } }), [/tokenizer cannot be built/]);
  });
  t.test('a chat template that does not parse', (t) => {
    const cfg = JSON.parse(tokCfg) as Record<string, unknown>;
    return expectBad(t, 'tokenizer_config.json', JSON.stringify({ ...cfg, chat_template: '{{ {{ {{ ' }), [/chat_template/, /does not parse/]);
  });
  t.test('an EOS id that is not a token id', (t) =>
    expectBad(t, 'generation_config.json', JSON.stringify({ eos_token_id: 2 ** 63 }), [/field 'eos_token_id'/, /not a token id/]));

  t.test('the untouched files still load', async (t) => {
    const tk = await loadTokenizer(dirWith('tokenizer.json', tokJson).dir);
    t.ok(tk.encode('hello world').length > 1);
  });
});
