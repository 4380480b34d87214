// The peer: llama.cpp through node-llama-cpp's prebuilt CPU binary, installed
// in peer/ (scripts/pretest.mjs). Typed here by the few calls the benches use.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface PeerSequence {
  evaluate(tokens: number[], options?: { temperature?: number }): AsyncGenerator<number, void, unknown>;
  clearHistory(): Promise<void>;
}
export interface PeerContext {
  getSequence(): PeerSequence;
  dispose(): Promise<void>;
}
export interface PeerModel {
  createContext(options: { contextSize?: number; sequences?: number; threads?: number; batchSize?: number }): Promise<PeerContext>;
  dispose(): Promise<void>;
}
export interface PeerLlama {
  loadModel(options: { modelPath: string }): Promise<PeerModel>;
}

interface PeerModule {
  getLlama(options: Record<string, unknown>): Promise<PeerLlama>;
}

export async function loadPeer(repoRoot: string): Promise<PeerLlama> {
  const entry = join(repoRoot, 'peer', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error('the llama.cpp peer is not installed: run `node scripts/pretest.mjs`');
  const mod = (await import(pathToFileURL(entry).href)) as PeerModule;
  return mod.getLlama({ build: 'never', gpu: false, skipDownload: true, progressLogs: false, logLevel: 'error' });
}
