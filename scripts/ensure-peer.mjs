// Installs the peer (llama.cpp through node-llama-cpp's prebuilt CPU binary)
// into peer/ when it is missing, so `npm test` and `npm run bench` work on a
// fresh clone. It lives outside the main package because `npm ci` there would
// also pull node-llama-cpp's optional GPU builds (hundreds of MB).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const peerDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'peer');
const marker = join(peerDir, 'node_modules', '@node-llama-cpp', 'linux-x64', 'package.json');
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log('peer: llama.cpp prebuilt is only wired for linux-x64 here; peer tests will skip');
  process.exit(0);
}
if (!existsSync(marker)) {
  console.log('peer: installing node-llama-cpp into peer/ (CPU build only)');
  const r = spawnSync('npm', ['ci', '--omit=optional', '--no-audit', '--no-fund'], {
    cwd: peerDir,
    stdio: 'inherit',
    env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
  });
  if (r.status !== 0) {
    console.error('peer: npm ci in peer/ failed; tests against llama.cpp cannot run');
    process.exit(r.status ?? 1);
  }
}
