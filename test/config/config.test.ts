// Configuration: precedence flags > env > file > defaults, one-line errors
// naming the key and what is valid, typo suggestions, YAML line numbers.

import t from 'tap';
import { parseConfigText } from '../../src/config/file.js';
import { ConfigError, configJsonSchema, defaultConfig, loadConfig, parseSize, type LoadInput } from '../../src/config/index.js';
import { editDistance, nearest } from '../../src/config/suggest.js';

const yaml = (text: string): LoadInput['readFile'] => (path) => parseConfigText(text, path);

function errorOf(input: LoadInput): string {
  try {
    loadConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) {
      return err.message;
    }
    throw err;
  }
  return '(no error)';
}

t.test('defaults', (t) => {
  const { config } = loadConfig({ argv: [], env: {} });
  t.same(config, defaultConfig());
  t.equal(config.host, '127.0.0.1', 'binds loopback unless told otherwise');
  t.equal(config.port, 8000);
  t.equal(config.blockSize, 16);
  t.equal(config.enablePrefixCaching, true);
  t.equal(config.gpuMemoryUtilization, 0.9);
  t.equal(config.model, null, 'no model = demo model');
  t.end();
});

t.test('precedence: flags > env > file > defaults', (t) => {
  const readFile = yaml('port: 9001\nmax-num-seqs: 10\nblock-size: 32\nlog-level: debug\n');
  const env = { HIPSERVE_MAX_NUM_SEQS: '20', HIPSERVE_BLOCK_SIZE: '64' };
  const { config } = loadConfig({ argv: ['--config', 'c.yaml', '--block-size', '128'], env, readFile });
  t.equal(config.port, 9001, 'file over default');
  t.equal(config.logLevel, 'debug', 'file over default');
  t.equal(config.maxNumSeqs, 20, 'env over file');
  t.equal(config.blockSize, 128, 'flag over env and file');
  t.equal(config.maxNumQueuedRequests, defaultConfig().maxNumQueuedRequests, 'default when nobody says');
  t.end();
});

t.test('flag forms', (t) => {
  const { config } = loadConfig({
    argv: ['Qwen/Qwen3-0.6B', '--max_num_seqs=4', '--no-enable-prefix-caching', '--api-key', 'a,b', '--api-key=c', '--kv-cache-memory', '2GiB', '--metrics-require-auth', '--allowed-origins', '["https://x.example"]'],
    env: {},
  });
  t.equal(config.model, 'Qwen/Qwen3-0.6B', 'positional model, as vLLM');
  t.same(config.servedModelName, ['Qwen/Qwen3-0.6B'], 'served name defaults to the model');
  t.equal(config.maxNumSeqs, 4, 'snake_case flag accepted');
  t.equal(config.enablePrefixCaching, false);
  t.same(config.apiKeys, ['a', 'b', 'c'], 'comma-separated and repeated');
  t.equal(config.kvCacheMemory, 2 * 1024 ** 3);
  t.equal(config.metricsRequireAuth, true);
  t.same(config.allowedOrigins, ['https://x.example']);
  t.same(loadConfig({ argv: [], env: { HIPSERVE_API_KEY: 'k1,k2' } }).config.apiKeys, ['k1', 'k2'], 'HIPSERVE_API_KEY');
  t.end();
});

t.test('--num-scheduler-steps: auto (null) unless given, vLLM spelling', (t) => {
  t.equal(loadConfig({ argv: [], env: {} }).config.numSchedulerSteps, null);
  t.equal(loadConfig({ argv: ['--num-scheduler-steps', '4'], env: {} }).config.numSchedulerSteps, 4);
  t.equal(loadConfig({ argv: ['--num_scheduler_steps', '2'], env: {} }).config.numSchedulerSteps, 2);
  t.equal(errorOf({ argv: ['--num-scheduler-steps', '0'], env: {} }), '--num-scheduler-steps must be an integer >= 1 and <= 256 (got "0")');
  t.end();
});

t.test('typos get the nearest name', (t) => {
  t.equal(errorOf({ argv: ['--max-num-seq', '4'], env: {} }), 'unknown option --max-num-seq; did you mean --max-num-seqs?');
  t.equal(errorOf({ argv: ['--prot', '1'], env: {} }), 'unknown option --prot; did you mean --port?');
  t.equal(errorOf({ argv: ['--completely-unrelated', '1'], env: {} }), 'unknown option --completely-unrelated');
  t.equal(errorOf({ argv: ['--config', 'c.yaml'], env: {}, readFile: yaml('port: 1\nblok-size: 8\n') }), 'c.yaml:2: unknown key blok-size; did you mean block-size?');
  t.end();
});

t.test('bad values name the key, the valid range or values, and the source', (t) => {
  t.equal(errorOf({ argv: ['--max-num-seqs', '0'], env: {} }), '--max-num-seqs must be an integer >= 1 and <= 65536 (got "0")');
  t.equal(errorOf({ argv: ['--device', 'gpu'], env: {} }), '--device must be one of auto, cpu, hip, hip-emu (got "gpu")');
  t.equal(errorOf({ argv: ['--gpu-memory-utilization', '1.5'], env: {} }), '--gpu-memory-utilization must be a number > 0 and <= 1 (got "1.5")');
  t.equal(errorOf({ argv: [], env: { HIPSERVE_PORT: 'eighty' } }), 'HIPSERVE_PORT must be an integer >= 0 and <= 65535 (got "eighty")');
  t.match(errorOf({ argv: ['--kv-cache-memory', 'lots'], env: {} }), /^--kv-cache-memory must be a size in bytes/);
  t.equal(errorOf({ argv: ['--kv-cache-dtype', 'fp8'], env: {} }), '--kv-cache-dtype must be one of auto, float16, half, float32, float (got "fp8")');
  t.equal(errorOf({ argv: ['--port'], env: {} }), 'option --port needs a value');
  t.end();
});

t.test('YAML errors carry the line', (t) => {
  const text = '# comment\nport: 9000\n\nmax-num-seqs: -3\n';
  t.equal(errorOf({ argv: ['--config', 'srv.yaml'], env: {}, readFile: yaml(text) }), 'srv.yaml:4: max-num-seqs must be an integer >= 1 and <= 65536 (got -3)');
  t.match(errorOf({ argv: ['--config', 'srv.yaml'], env: {}, readFile: yaml('port: [1,\n') }), /^srv\.yaml:\d+: invalid YAML/);
  t.equal(errorOf({ argv: ['--config', 'srv.yaml'], env: {}, readFile: yaml('- a\n- b\n') }), 'srv.yaml:1: the config file must be a mapping of option names to values');
  const camel = loadConfig({ argv: ['--config', 'x'], env: {}, readFile: yaml('maxNumSeqs: 3\nenable_prefix_caching: false\napi-key: [a, b]\nkv-cache-memory: 512MiB\n') }).config;
  t.equal(camel.maxNumSeqs, 3);
  t.equal(camel.enablePrefixCaching, false);
  t.same(camel.apiKeys, ['a', 'b']);
  t.equal(camel.kvCacheMemory, 512 * 1024 * 1024);
  t.end();
});

t.test('JSON Schema lists every option with kebab-case keys', (t) => {
  const schema = configJsonSchema() as unknown as { properties: Partial<Record<string, { description?: string }>>; additionalProperties: boolean };
  t.equal(schema.additionalProperties, false);
  for (const key of ['model', 'max-num-seqs', 'kv-cache-memory', 'device', 'api-key', 'request-timeout']) t.ok(schema.properties[key]?.description, key);
  t.end();
});

t.test('helpers', (t) => {
  t.equal(editDistance('kitten', 'sitting'), 3);
  t.equal(nearest('max-num-seq', ['max-num-seqs', 'port']), 'max-num-seqs');
  t.equal(nearest('zzzz', ['max-num-seqs', 'port']), null);
  t.equal(parseSize('2GiB'), 2 * 1024 ** 3);
  t.equal(parseSize('1.5GB'), 1.5e9);
  t.equal(parseSize('12 MiB'), 12 * 1024 ** 2);
  t.equal(parseSize('1024'), 1024);
  t.equal(parseSize('ten'), null);
  t.equal(parseSize('5XB'), null);
  t.end();
});
