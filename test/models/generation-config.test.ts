// --generation-config and --override-generation-config (vLLM's): which
// generation_config.json is read, which of its fields become request
// defaults (only those that differ from Transformers' own defaults), the
// override on top, and errors that name the file or flag and the key.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { samplingDefaults } from '../../src/models/generation-config.js';

function modelDir(gen: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'hipserve-gen-'));
  if (gen !== undefined) writeFileSync(join(dir, 'generation_config.json'), typeof gen === 'string' ? gen : JSON.stringify(gen));
  return dir;
}

const QWEN3 = { bos_token_id: 151643, do_sample: true, eos_token_id: [151645, 151643], pad_token_id: 151643, temperature: 0.6, top_k: 20, top_p: 0.95, transformers_version: '4.51.0' };

t.test('auto reads the model directory\'s file; vllm reads none', (t) => {
  const dir = modelDir(QWEN3);
  t.same(samplingDefaults(dir, 'auto', null), { defaults: { temperature: 0.6, topP: 0.95, topK: 20 }, source: join(dir, 'generation_config.json') });
  t.same(samplingDefaults(dir, 'vllm', null), { defaults: {}, source: null });
  t.same(samplingDefaults(modelDir(undefined), 'auto', null).defaults, {}, 'no file: nothing');
  const gguf = join(modelDir(undefined), 'model.gguf');
  writeFileSync(gguf, 'GGUF');
  t.same(samplingDefaults(gguf, 'auto', null).defaults, {}, 'a GGUF file has none');
  t.end();
});

t.test('only the sampling fields, and only where they differ from Transformers\' defaults', (t) => {
  const dir = modelDir({ temperature: 1.0, top_p: 1.0, top_k: 50, repetition_penalty: 1.05, min_p: 0, max_new_tokens: 512, num_beams: 4, do_sample: true });
  t.same(samplingDefaults(dir, 'auto', null).defaults, { repetitionPenalty: 1.05, minP: 0, maxTokens: 512 });
  t.same(samplingDefaults(modelDir({ temperature: null, top_k: null }), 'auto', null).defaults, {}, 'nulls are absent');
  t.end();
});

t.test('a directory or a file by path; the override on top', (t) => {
  const dir = modelDir(QWEN3);
  const other = modelDir({ temperature: 0.3 });
  t.same(samplingDefaults(dir, other, null).defaults, { temperature: 0.3 }, 'another directory\'s file');
  t.same(samplingDefaults(dir, join(other, 'generation_config.json'), null).defaults, { temperature: 0.3 }, 'the file itself');
  t.same(samplingDefaults(dir, 'auto', '{"temperature": 1.0, "max_new_tokens": 64}').defaults, { temperature: 1, topP: 0.95, topK: 20, maxTokens: 64 }, 'the override wins, a default value included');
  t.same(samplingDefaults(dir, 'vllm', '{"top_p": 0.9}'), { defaults: { topP: 0.9 }, source: null }, 'vllm with an override: the override alone');
  t.end();
});

t.test('errors name the file or the flag and the key', (t) => {
  const dir = modelDir(QWEN3);
  t.throws(() => samplingDefaults(dir, '/no/such/dir', null), /--generation-config \/no\/such\/dir: no such file or directory/);
  t.throws(() => samplingDefaults(dir, modelDir(undefined), null), /holds no generation_config.json/);
  const bad = modelDir('{"temperature": 0.6,');
  t.throws(() => samplingDefaults(bad, 'auto', null), new RegExp(`${join(bad, 'generation_config.json')}: cannot be read as JSON`));
  const list = modelDir('[1]');
  t.throws(() => samplingDefaults(list, 'auto', null), /must hold a JSON object/);
  const range = modelDir({ top_p: 0 });
  t.throws(() => samplingDefaults(range, 'auto', null), new RegExp(`${join(range, 'generation_config.json')}: top_p must be a number in \\(0, 1\\], got 0`));
  t.throws(() => samplingDefaults(modelDir({ top_k: 2.5 }), 'auto', null), /top_k must be an integer >= -1/);
  t.throws(() => samplingDefaults(modelDir({ temperature: '0.7' }), 'auto', null), /temperature must be a number in \[0, 100\], got "0.7"/);
  t.throws(() => samplingDefaults(dir, 'auto', '{temperature: 1}'), /--override-generation-config: not JSON/);
  t.throws(() => samplingDefaults(dir, 'auto', '[]'), /--override-generation-config: must be a JSON object/);
  t.throws(() => samplingDefaults(dir, 'auto', '{"max_new_tokens": 0}'), /--override-generation-config: max_new_tokens must be an integer >= 1, got 0/);
  t.end();
});
