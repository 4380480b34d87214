// Embeddings' pooling: --pooling (llama.cpp's flag) and vLLM's
// --pooler-config, else the model's own (a sentence-transformers
// directory's Pooling module, a GGUF's <arch>.pooling_type), else last;
// poolings this server does not serve fall back to last with a warning;
// errors name the file or the flag.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/config/errors.js';
import { serveHelp } from '../../src/config/help.js';
import { parsePoolerConfig, readMatryoshka, resolvePooling } from '../../src/models/pooling.js';
import { gguf } from '../../src/models/gguf-types.js';
import { writeGguf } from '../../src/models/writers/gguf.js';
import * as native from '../../src/native.js';

const root = mkdtempSync(join(tmpdir(), 'hipserve-pooling-'));
t.teardown(() => { rmSync(root, { recursive: true, force: true }); });
let n = 0;

/** A sentence-transformers directory: modules.json and its Pooling module's config (Qwen3-Embedding's layout). */
function stDir(pooling: Record<string, boolean> | null, modules?: unknown): string {
  const dir = join(root, `st-${++n}`);
  mkdirSync(join(dir, '1_Pooling'), { recursive: true });
  const list = modules ?? [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
  ];
  writeFileSync(join(dir, 'modules.json'), typeof list === 'string' ? list : JSON.stringify(list));
  if (pooling !== null) writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 1024, ...pooling }));
  return dir;
}

const MODES = { pooling_mode_cls_token: false, pooling_mode_mean_tokens: false, pooling_mode_max_tokens: false, pooling_mode_mean_sqrt_len_tokens: false, pooling_mode_weightedmean_tokens: false, pooling_mode_lasttoken: false };

/** A metadata-only GGUF file (native.ggufMetadata reads it as the server does). */
function ggufFile(poolingType: number | null): string {
  const path = join(root, `m-${++n}.gguf`);
  writeGguf(path, { metadata: [['general.architecture', gguf.str('qwen3')], ...(poolingType === null ? [] : [['qwen3.pooling_type', gguf.u32(poolingType)] as const])], tensors: [] });
  return path;
}

const readGguf = (path: string): Readonly<Record<string, unknown>> => {
  const r = native.ggufMetadata(path);
  if (!r.ok) throw r.error;
  return r.value.metadata;
};
const none = parsePoolerConfig(null);
const auto = (path: string) => resolvePooling('auto', none, path, readGguf);

t.test('a sentence-transformers directory: its Pooling module\'s mode', (t) => {
  const last = stDir({ ...MODES, pooling_mode_lasttoken: true });
  t.match(auto(last), { pooling: 'last', source: /1_Pooling\/config\.json \(pooling_mode_lasttoken\)/, warning: null }, 'Qwen3-Embedding: lasttoken');
  t.equal(auto(stDir({ ...MODES, pooling_mode_mean_tokens: true })).pooling, 'mean');
  t.equal(auto(stDir({ ...MODES, pooling_mode_cls_token: true })).pooling, 'cls');
  const max = auto(stDir({ ...MODES, pooling_mode_max_tokens: true }));
  t.equal(max.pooling, 'last', 'max pooling is not served: last');
  t.match(max.warning, /asks for max_tokens pooling .* does not serve; embeddings pool the last token/);
  t.match(auto(stDir(null)), { pooling: 'last', source: /^default/ }, 'no Pooling config: the default');
  t.match(auto(stDir(MODES)), { pooling: 'last', source: /^default/ }, 'no mode set: the default');
  t.match(auto(stDir(null, [{ path: '', type: 'sentence_transformers.models.Transformer' }])), { pooling: 'last', source: /^default/ }, 'no Pooling module');
  t.throws(() => auto(stDir(null, '{not json')), /modules\.json: cannot be read as JSON/);
  t.throws(() => auto(stDir(null, { a: 1 })), /modules\.json: must hold a list of modules/);
  const plain = join(root, 'plain');
  mkdirSync(plain);
  t.match(auto(plain), { pooling: 'last', warning: null }, 'a causal LM directory: last, as vLLM');
  t.end();
});

t.test('a GGUF file: <arch>.pooling_type, llama.cpp\'s enum', (t) => {
  t.match(auto(ggufFile(1)), { pooling: 'mean', source: /qwen3\.pooling_type = 1/ });
  t.equal(auto(ggufFile(2)).pooling, 'cls');
  t.equal(auto(ggufFile(3)).pooling, 'last');
  t.match(auto(ggufFile(0)), { pooling: 'none', warning: null }, '0: llama.cpp\'s none, served (per-token vectors on /embedding)');
  for (const [code, name] of [[4, 'rank'], [9, 'unknown \\(9\\)']] as const) {
    const r = auto(ggufFile(code));
    t.equal(r.pooling, 'last', `${code}: not served, last`);
    t.match(r.warning, new RegExp(`asks for ${name} pooling`));
  }
  t.match(auto(ggufFile(null)), { pooling: 'last', source: /^default/ }, 'no key: the default');
  t.end();
});

t.test('--pooling and --pooler-config over the model\'s', (t) => {
  const mean = stDir({ ...MODES, pooling_mode_mean_tokens: true });
  t.same(resolvePooling('cls', none, mean, readGguf), { pooling: 'cls', source: '--pooling', warning: null });
  t.same(resolvePooling('auto', parsePoolerConfig('{"pooling_type": "LAST"}'), mean, readGguf), { pooling: 'last', source: '--pooler-config', warning: null });
  t.equal(resolvePooling('last', parsePoolerConfig('{"pooling_type": "last"}'), mean, readGguf).pooling, 'last', 'both, agreeing');
  t.throws(() => resolvePooling('mean', parsePoolerConfig('{"pooling_type": "CLS"}'), mean, readGguf), /--pooling mean and --pooler-config's pooling_type CLS disagree/);
  t.end();
});

t.test('--pooler-config: pooling_type and normalize; errors name the flag', (t) => {
  t.same(parsePoolerConfig('{"pooling_type": "MEAN", "normalize": false}'), { poolingType: 'mean', normalize: false });
  t.same(parsePoolerConfig('{}'), { poolingType: null, normalize: null });
  for (const [text, message] of [
    ['{"pooling_type"', /--pooler-config: not JSON/],
    ['[1]', /--pooler-config: must be a JSON object/],
    ['{"pooling_type": "MAX"}', /pooling_type must be one of LAST, MEAN, CLS, got "MAX"/],
    ['{"pooling_type": "NONE"}', /pooling_type must be one of LAST, MEAN, CLS, got "NONE"/],
    ['{"normalize": "yes"}', /normalize must be true or false/],
    ['{"softmax": true}', /unknown key "softmax" \(served: pooling_type, normalize\)/],
  ] as const) t.throws(() => parsePoolerConfig(text), message, text);
  t.end();
});

t.test('matryoshka widths from config.json', (t) => {
  const dir = (config: unknown): string => {
    const d = mkdtempSync(join(root, 'mrl-'));
    writeFileSync(join(d, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    return d;
  };
  t.equal(readMatryoshka(dir({ is_matryoshka: true })), true, 'is_matryoshka: any width');
  t.same(readMatryoshka(dir({ matryoshka_dimensions: [32, 64, 128], is_matryoshka: true })), [32, 64, 128], 'the listed widths win');
  t.equal(readMatryoshka(dir({ hidden_size: 64 })), null, 'neither key: full width only');
  t.equal(readMatryoshka(dir({ is_matryoshka: false })), null);
  t.equal(readMatryoshka(ggufFile(null)), null, 'a GGUF file: none');
  t.throws(() => readMatryoshka(dir({ matryoshka_dimensions: [0, 'x'] })), /config\.json: matryoshka_dimensions must be a list of positive integers/);
  t.throws(() => readMatryoshka(dir('{')), /config\.json: cannot be read as JSON/, 'a broken config.json names the file');
  t.end();
});

t.test('the flags in the config system', (t) => {
  t.equal(loadConfig({ argv: [], env: {} }).config.pooling, 'auto', 'auto by default');
  t.equal(loadConfig({ argv: ['--pooling', 'mean'], env: {} }).config.pooling, 'mean');
  t.equal(loadConfig({ argv: [], env: { HIPSERVE_POOLING: 'cls' } }).config.pooling, 'cls', 'HIPSERVE_POOLING');
  t.equal(loadConfig({ argv: ['--pooling=last'], env: { HIPSERVE_POOLING: 'cls' } }).config.pooling, 'last', 'flags over env');
  t.throws(() => loadConfig({ argv: ['--pooling', 'max'], env: {} }), new ConfigError('--pooling must be one of auto, last, mean, cls, none (got "max")'));
  t.equal(loadConfig({ argv: ['--pooling', 'none'], env: {} }).config.pooling, 'none', 'llama.cpp\'s none');
  t.equal(loadConfig({ argv: ['--pooler-config', '{"normalize": false}'], env: {} }).config.poolerConfig, '{"normalize": false}');
  t.equal(loadConfig({ argv: [], env: {} }).config.poolerConfig, null);
  t.match(serveHelp(), /--pooling <enum>\s+How \/v1\/embeddings pools/);
  t.match(serveHelp(), /--pooler-config <string>/);
  t.end();
});
