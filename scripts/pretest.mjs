// Runs before `npm test` (npm's pretest), so the suite works on a fresh clone:
// - installs the peer (llama.cpp through node-llama-cpp's prebuilt CPU
//   binary) into peer/ when missing. It lives outside the main package
//   because `npm ci` there would also pull node-llama-cpp's optional GPU
//   builds (hundreds of MB);
// - installs Debian's `prometheus` package for promtool (the /metrics lint)
//   when it is missing and this is a Debian machine where we are root.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  return r.status === 0;
}

function ensurePeer() {
  const peerDir = join(root, 'peer');
  const marker = join(peerDir, 'node_modules', '@node-llama-cpp', 'linux-x64', 'package.json');
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.log('pretest: the llama.cpp peer is only wired for linux-x64; its tests will say so');
    return;
  }
  if (existsSync(marker)) return;
  console.log('pretest: installing node-llama-cpp into peer/ (CPU build only)');
  // No lock file: npm cannot lock node-llama-cpp's optional per-platform
  // packages without resolving them all, and `npm ci` then refuses the lock.
  // Both peer packages are pinned exactly in peer/package.json.
  const ok = run('npm', ['install', '--omit=optional', '--no-package-lock', '--no-audit', '--no-fund'], {
    cwd: peerDir,
    env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
  });
  if (!ok) {
    console.error('pretest: npm install in peer/ failed; the tests against llama.cpp cannot run');
    process.exit(1);
  }
}

function ensurePromtool() {
  if (run('sh', ['-c', 'command -v promtool >/dev/null'])) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !existsSync('/usr/bin/apt-get')) {
    console.log('pretest: promtool is missing; install Debian/Ubuntu package "prometheus" (the /metrics lint test needs it)');
    return;
  }
  console.log('pretest: installing Debian package prometheus for promtool');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!run('apt-get', ['install', '-y', '-qq', 'prometheus'], { env })) {
    run('apt-get', ['update', '-qq'], { env });
    run('apt-get', ['install', '-y', '-qq', 'prometheus'], { env });
  }
}

ensurePeer();
ensurePromtool();
