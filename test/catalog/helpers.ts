// Shared builders for the catalog tests: a temp HF_HOME per test, env pointing
// at the mock hub, and a realistic safetensors repo.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { bytes, type MockFileSpec, type MockRepoSpec } from './mock-hub.js';

export interface TestEnv {
  home: string;
  cache: string;
  env: NodeJS.ProcessEnv;
}

/** A fresh HF_HOME removed at teardown; fast retries so fault tests stay quick. */
export function tempEnv(t: Test, hubUrl: string, extra: Record<string, string> = {}): TestEnv {
  const home = mkdtempSync(join(tmpdir(), 'hipserve-catalog-'));
  t.teardown(() => { rmSync(home, { recursive: true, force: true }); });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    HF_HOME: home,
    HF_ENDPOINT: hubUrl,
    HIPSERVE_HUB_BACKOFF_MS: '5',
    HIPSERVE_HUB_RETRIES: '4',
    ...extra,
  };
  return { home, cache: join(home, 'hub'), env };
}

/** config + tokenizer + two LFS shards with an index, plus files a server does not need. */
export function safetensorsRepo(id: string, shardBytes = 200_000, seed = 1): MockRepoSpec {
  const shardNames = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const files: MockFileSpec[] = [
    { path: 'config.json', data: Buffer.from(JSON.stringify({ model_type: 'llama', hidden_size: 64, seed })) },
    { path: 'generation_config.json', data: Buffer.from('{"eos_token_id": 2}') },
    { path: 'tokenizer.json', data: Buffer.from(JSON.stringify({ version: '1.0', model: { type: 'BPE' }, seed })) },
    { path: 'tokenizer_config.json', data: Buffer.from('{"bos_token": "<s>"}') },
    { path: 'special_tokens_map.json', data: Buffer.from('{}') },
    { path: 'model.safetensors.index.json', data: Buffer.from(JSON.stringify({ weight_map: { a: shardNames[0], b: shardNames[1] } })) },
    { path: shardNames[0] ?? '', data: bytes(shardBytes, seed), lfs: true },
    { path: shardNames[1] ?? '', data: bytes(shardBytes, seed + 100), lfs: true },
    { path: 'README.md', data: Buffer.from('# not needed to serve') },
    { path: 'pytorch_model.bin', data: bytes(1000, seed + 7), lfs: true },
    { path: 'onnx/model.onnx', data: bytes(500, seed + 8), lfs: true },
  ];
  return { id, files };
}

export const SHARD1 = 'model-00001-of-00002.safetensors';
export const SHARD2 = 'model-00002-of-00002.safetensors';
