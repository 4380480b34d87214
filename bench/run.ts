// `npm run bench [-- name ...]`: runs benches one after another, each in its
// own process (two benches at once would measure each other on 2 cores).
// With no names it runs the two that compare against llama.cpp in the same
// run: decode (native forward, batch 1 and 8, prefill, roofline) and engine
// (N concurrent requests through the engine). Any bench/<name>.ts may be
// named; arguments after `--` go to every bench named, e.g.
//   npm run bench -- kernels
//   npm run bench -- engine -- --concurrency 8
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const names = dash === -1 ? argv : argv.slice(0, dash);
const passThrough = dash === -1 ? [] : argv.slice(dash + 1);
const chosen = names.length > 0 ? names : ['decode', 'engine'];

for (const name of chosen) {
  const file = join(here, `${name}.ts`);
  if (name === 'run' || name === 'models' || !existsSync(file)) {
    console.error(`bench: no bench named ${JSON.stringify(name)} (bench/<name>.ts: decode, engine, kernels, http, stream-load, hip-kernels)`);
    process.exit(2);
  }
}
for (const name of chosen) {
  console.log(`\n## bench/${name}.ts (${new Date().toISOString()})\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`), ...passThrough], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`bench: bench/${name}.ts ${r.signal !== null ? `was killed by ${r.signal}` : `exited with ${String(r.status)}`}`);
    process.exit(r.status ?? 1);
  }
}
