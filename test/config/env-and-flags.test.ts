// Boolean flags with an explicit true/false word, warnings for unknown
// HIPSERVE_* variables, and that the list of known variables covers every
// HIPSERVE_ name the sources read.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadConfig } from '../../src/config/index.js';
import { ENV_KNOBS } from '../../src/config/load.js';
import { OPTIONS, envName } from '../../src/config/options.js';

t.test('a bool flag takes a following true/false word as its value', (t) => {
  const off = loadConfig({ argv: ['--offline', 'false', 'org/model'], env: {} }).config;
  t.equal(off.offline, false, '--offline false');
  t.equal(off.model, 'org/model', 'the word is not taken as the model');
  const on = loadConfig({ argv: ['--enable-prefix-caching', 'FALSE', '--metrics-require-auth', 'true'], env: {} }).config;
  t.equal(on.enablePrefixCaching, false);
  t.equal(on.metricsRequireAuth, true);
  t.equal(on.model, null, 'no model named "true" or "false"');
  const bare = loadConfig({ argv: ['--offline', 'org/model'], env: {} }).config;
  t.equal(bare.offline, true, 'a bare flag is still true');
  t.equal(bare.model, 'org/model', 'and the next word still the model');
  t.equal(loadConfig({ argv: ['--offline=false'], env: {} }).config.offline, false, '--flag=false');
  t.equal(loadConfig({ argv: ['--no-offline'], env: {} }).config.offline, false, '--no-flag');
  t.end();
});

t.test('unknown HIPSERVE_* variables are warned about, with the nearest name', (t) => {
  const { warnings } = loadConfig({
    argv: [],
    env: { HIPSERVE_MAX_NUM_SEQ: '4', HIPSERVE_THREDS: '2', HIPSERVE_THREADS: '2', HIPSERVE_PORT: '9000', HIPSERVE_ZZZZZZZZZZZZZZZZZZZZ: '1', PATH: '/bin' },
  });
  t.same(warnings, [
    'unknown environment variable HIPSERVE_MAX_NUM_SEQ is ignored; did you mean HIPSERVE_MAX_NUM_SEQS?',
    'unknown environment variable HIPSERVE_THREDS is ignored; did you mean HIPSERVE_THREADS?',
    'unknown environment variable HIPSERVE_ZZZZZZZZZZZZZZZZZZZZ is ignored',
  ]);
  t.same(loadConfig({ argv: [], env: { HIPSERVE_THREADS: '2', HIPSERVE_API_KEY: 'k' } }).warnings, [], 'known names: no warning');
  t.end();
});

function filesUnder(dir: string, exts: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

t.test('every HIPSERVE_ variable the sources read is an option or a known knob', (t) => {
  const known = new Set([...OPTIONS.map((o) => envName(o)), ...ENV_KNOBS]);
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const files = [
    ...filesUnder(join(root, 'src'), ['.ts']),
    ...filesUnder(join(root, 'native'), ['.cc', '.h', '.hip']),
    ...filesUnder(join(root, 'bench'), ['.ts']),
    join(root, 'scripts', 'build-hip-amd.sh'),
  ];
  // Reads: getenv("X"), env.X, env['X'], ${X:-...} in the build script.
  const read = /getenv\("(HIPSERVE_[A-Z0-9_]+)"\)|env(?:\.|\[')(HIPSERVE_[A-Z0-9_]+)|\$\{(HIPSERVE_[A-Z0-9_]+):-/g;
  const seen = new Set<string>();
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(read)) {
      // One of the three groups matched; the others are undefined at run time.
      const name = (m.slice(1) as (string | undefined)[]).find((x) => x !== undefined);
      if (name !== undefined) seen.add(name);
    }
  }
  t.ok(seen.size >= 10, `found the reads (${seen.size})`);
  t.same([...seen].filter((n) => !known.has(n)).sort(), [], 'none unknown');
  t.end();
});

t.test("vLLM's tool-calling flags parse as vLLM users write them", (t) => {
  const c = loadConfig({ argv: ['Qwen/Qwen3-0.6B', '--enable-auto-tool-choice', '--tool-call-parser', 'hermes'], env: {} }).config;
  t.equal(c.enableAutoToolChoice, true);
  t.equal(c.toolCallParser, 'hermes');
  const d = loadConfig({ argv: [], env: {} }).config;
  t.equal(d.toolCallParser, 'auto', 'default: picked from the chat template');
  t.equal(d.enableAutoToolChoice, true, 'on by default');
  t.equal(loadConfig({ argv: ['--no-enable-auto-tool-choice'], env: {} }).config.enableAutoToolChoice, false);
  t.equal(loadConfig({ argv: [], env: { HIPSERVE_TOOL_CALL_PARSER: 'llama3_json' } }).config.toolCallParser, 'llama3_json', 'from the environment');
  t.equal(loadConfig({ argv: ['--tool-call-parser', 'pythonic'], env: {} }).config.toolCallParser, 'pythonic');
  t.throws(() => loadConfig({ argv: ['--tool-call-parser', 'granite'], env: {} }), /hermes, llama3_json, mistral, pythonic/, 'an unknown parser names the known ones');
  t.end();
});

t.test('--served-model-name takes several names (comma-separated, repeated, from the environment)', (t) => {
  const names = (argv: string[], env: Record<string, string> = {}): string[] => loadConfig({ argv, env }).config.servedModelName;
  t.same(names(['org/model']), ['org/model'], 'default: the model');
  t.same(names(['org/model', '--served-model-name', 'a,b']), ['a', 'b']);
  t.same(names(['org/model', '--served-model-name', 'a', '--served-model-name', 'b']), ['a', 'b']);
  t.same(names(['org/model'], { HIPSERVE_SERVED_MODEL_NAME: 'x,y' }), ['x', 'y']);
  t.same(names([]), [], 'the demo: none (it answers to hipserve-demo)');
  t.end();
});
