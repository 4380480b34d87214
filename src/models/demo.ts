// The built-in demo model served when no --model is given: Qwen3's
// architecture and real tokenizer with small random weights, generated once
// into the cache. Its config.json says "hipserve_demo": true so the server
// can tell users that its text is noise.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ensureDir } from './atomic-dir.js';
import { writeHfModel, type SynthSpec } from './synth.js';

/** Bump when the demo's weights or files change. */
export const DEMO_VERSION = 1;

export const demoSpec: SynthSpec = {
  arch: 'qwen3',
  tokenizer: 'qwen3',
  hiddenSize: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 32,
  intermediateSize: 192,
  maxPosition: 4096,
  ropeTheta: 1000000,
  rmsEps: 1e-6,
  tieEmbeddings: true,
  seed: 42,
  demo: true,
  name: 'hipserve-demo',
};

export function demoModelDir(): string {
  const root = process.env.HIPSERVE_CACHE ?? join(homedir(), '.cache', 'hipserve');
  return join(root, `demo-v${String(DEMO_VERSION)}`);
}

/** Returns the demo model's directory, generating it on first use (atomically). */
export async function ensureDemoModel(): Promise<string> {
  return ensureDir(demoModelDir(), (tmp) => {
    writeHfModel(tmp, demoSpec, 'f32');
  });
}
