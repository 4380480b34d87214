// node-llama-cpp (llama.cpp's prebuilt CPU binary) from peer/node_modules,
// typed by the few calls used here. The peer lives outside the main package
// (see scripts/pretest.mjs), so it is imported by path.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../fixtures/models.js';

export interface PeerSequence {
  evaluate(tokens: number[], options?: { temperature?: number }): AsyncGenerator<number, void, undefined>;
  evaluateWithMetadata(
    tokens: number[],
    metadata: { probabilities: true },
    options?: { temperature?: number },
  ): AsyncGenerator<{ token: number; probabilities: Map<number, number> }, void, undefined>;
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  clearHistory(): Promise<void>;
}
export interface PeerContext {
  getSequence(): PeerSequence;
  dispose(): Promise<void>;
}
export interface PeerModel {
  tokenize(text: string, specialTokens?: boolean): number[];
  detokenize(tokens: readonly number[], specialTokens?: boolean): string;
  createContext(opts: {
    contextSize?: number;
    sequences?: number;
    threads?: number;
    batchSize?: number;
    flashAttention?: boolean;
    experimentalKvCacheKeyType?: string;
    experimentalKvCacheValueType?: string;
  }): Promise<PeerContext>;
  dispose(): Promise<void>;
  /** llama.cpp's embeddings: the final-normed hidden state of the input's last token for a model without a pooling type. */
  createEmbeddingContext(opts: { contextSize?: number; threads?: number }): Promise<PeerEmbeddingContext>;
  readonly tokens: { bos: number | null; shouldPrependBosToken: boolean; shouldAppendEosToken: boolean };
}
export interface PeerEmbeddingContext {
  getEmbeddingFor(input: number[]): Promise<{ vector: readonly number[] }>;
  dispose(): Promise<void>;
}
export interface PeerLlama {
  loadModel(opts: { modelPath: string; gpuLayers?: number }): Promise<PeerModel>;
}
interface PeerModule {
  getLlama(opts: Record<string, unknown>): Promise<PeerLlama>;
}

export const peerEntry = join(repoRoot, 'peer', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');

let llama: Promise<PeerLlama> | null = null;

/** llama.cpp's CPU build; throws a message saying how to install it when it is missing. */
export function getPeer(): Promise<PeerLlama> {
  if (!existsSync(peerEntry)) {
    return Promise.reject(
      new Error(`the llama.cpp peer is not installed (${peerEntry} is missing): run \`node scripts/pretest.mjs\` (npm's pretest does it)`),
    );
  }
  llama ??= (import(pathToFileURL(peerEntry).href) as Promise<PeerModule>).then((m) =>
    m.getLlama({ build: 'never', gpu: false, skipDownload: true, progressLogs: false, logLevel: 'error' }),
  );
  return llama;
}
