// Builds the tokenizer.json object of a GGUF file's vocabulary from its
// tokenizer.ggml.* metadata, so one tokenizer library serves Hugging Face
// directories and GGUF files alike: gpt2-style byte-level BPE ("gpt2") and
// SentencePiece BPE with byte fallback ("llama": Llama 2, Mistral, TinyLlama).
import { GgufError, type GgufMetadata } from './gguf-reader.js';

// The pre-tokenizer split of each tokenizer.ggml.pre value this builds
// (the same regexes llama.cpp's llama-vocab.cpp and the HF files use).
const PRE_REGEX: Record<string, string> = {
  'llama-bpe':
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2:
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;

export interface GgufTokenizerParts {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  tokens: readonly string[];
}

/** A special token the post-processor writes: its text and id. */
interface Special {
  text: string;
  id: number;
}

/**
 * The post-processor that puts BOS before each sequence (as the Hub's Llama
 * files do) and/or EOS after it (tokenizer.ggml.add_eos_token, as llama.cpp
 * tokenizes with special tokens: Qwen3-Embedding's files, whose embeddings
 * are read at that EOS). Null when neither is added.
 */
function specialsTemplate(bos: Special | null, eos: Special | null): Record<string, unknown> | null {
  if (bos === null && eos === null) return null;
  const seq = (id: 'A' | 'B', type: number): Record<string, unknown>[] => [
    ...(bos !== null ? [{ SpecialToken: { id: bos.text, type_id: type } }] : []),
    { Sequence: { id, type_id: type } },
    ...(eos !== null ? [{ SpecialToken: { id: eos.text, type_id: type } }] : []),
  ];
  const specials: Record<string, unknown> = {};
  for (const s of [bos, eos]) if (s !== null) specials[s.text] = { id: s.text, ids: [s.id], tokens: [s.text] };
  return { type: 'TemplateProcessing', single: seq('A', 0), pair: [...seq('A', 0), ...seq('B', 1)], special_tokens: specials };
}

/** BOS and EOS as the file says to add them (add_bos_token defaulting to `bosDefault`, add_eos_token to false). */
function addedSpecials(md: GgufMetadata, tokens: readonly string[], bosDefault: boolean): [Special | null, Special | null] {
  const at = (key: string): Special | null => {
    const id = md.optionalNumber(key);
    const text = id !== null ? tokens[id] : undefined;
    return id !== null && text !== undefined ? { text, id } : null;
  };
  const bos = md.bool('tokenizer.ggml.add_bos_token', bosDefault) ? at('tokenizer.ggml.bos_token_id') : null;
  const eos = md.bool('tokenizer.ggml.add_eos_token', false) ? at('tokenizer.ggml.eos_token_id') : null;
  return [bos, eos];
}

function tokenizerConfig(md: GgufMetadata, tokens: readonly string[], bos: string | null, eosId: number | null): Record<string, unknown> {
  const config: Record<string, unknown> = {
    bos_token: bos,
    eos_token: eosId !== null ? (tokens[eosId] ?? null) : null,
    clean_up_tokenization_spaces: false,
  };
  const template = md.string('tokenizer.chat_template', null);
  if (template !== null) config.chat_template = template;
  return config;
}

export function tokenizerJsonFromGguf(md: GgufMetadata): GgufTokenizerParts {
  const path = md.file.path;
  const model = md.string('tokenizer.ggml.model');
  if (model === 'llama') return sentencePieceParts(md);
  if (model !== 'gpt2') {
    throw new GgufError(path, 'metadata key tokenizer.ggml.model', `tokenizer model "${model}" is not supported (known: "gpt2" byte-level BPE, "llama" SentencePiece BPE); use the model's tokenizer.json`);
  }
  const pre = md.string('tokenizer.ggml.pre', 'llama-bpe') ?? 'llama-bpe';
  const regex = PRE_REGEX[pre] as string | undefined;
  if (regex === undefined) {
    throw new GgufError(path, 'metadata key tokenizer.ggml.pre', `pre-tokenizer "${pre}" is not supported (known: ${Object.keys(PRE_REGEX).join(', ')})`);
  }
  const tokens = md.strings('tokenizer.ggml.tokens');
  const types = md.numbers('tokenizer.ggml.token_type') ?? [];
  const merges = md.strings('tokenizer.ggml.merges');
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  tokens.forEach((tok, id) => {
    const type = types[id] ?? 1;
    if (type === CONTROL || type === USER_DEFINED) {
      added.push({ id, content: tok, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === CONTROL });
    } else {
      vocab[tok] = id;
    }
  });
  const bosId = md.optionalNumber('tokenizer.ggml.bos_token_id');
  const eosId = md.optionalNumber('tokenizer.ggml.eos_token_id');
  const bos = bosId !== null ? (tokens[bosId] ?? null) : null;
  const postProcessor = specialsTemplate(...addedSpecials(md, tokens, pre === 'llama-bpe')) ?? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: pre === 'qwen2' ? { type: 'NFC' } : null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: postProcessor,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      // llama.cpp sets ignore_merges for the Llama 3 pre-tokenizer, as HF's file does.
      ignore_merges: pre === 'llama-bpe',
      vocab,
      merges,
    },
  };
  return { tokenizerJson, tokenizerConfig: tokenizerConfig(md, tokens, bos, eosId), tokens };
}

/**
 * Merges of a SentencePiece BPE vocabulary, as Hugging Face's converter
 * derives them (SentencePieceExtractor): every split of a piece into two
 * pieces of the vocabulary is a merge, ranked by the merged piece's score,
 * highest first; ties keep vocabulary order, and a piece's own splits are
 * ordered by the ids of their left, then right part. Splits are by code
 * point, as Python slices strings. `id`: each piece's first id.
 */
function sentencePieceMerges(tokens: readonly string[], scores: readonly number[], id: ReadonlyMap<string, number>): [string, string][] {
  const all: { l: string; r: string; score: number }[] = [];
  tokens.forEach((piece, i) => {
    const cps = Array.from(piece);
    const local: { l: string; r: string; score: number }[] = [];
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join(''), r = cps.slice(k).join('');
      if (id.has(l) && id.has(r)) local.push({ l, r, score: scores[i] ?? 0 });
    }
    local.sort((a, b) => (id.get(a.l) ?? 0) - (id.get(b.l) ?? 0) || (id.get(a.r) ?? 0) - (id.get(b.r) ?? 0));
    all.push(...local);
  });
  all.sort((a, b) => b.score - a.score); // stable: ties keep vocabulary order
  return all.map((m) => [m.l, m.r]);
}

function sentencePieceParts(md: GgufMetadata): GgufTokenizerParts {
  const path = md.file.path;
  const tokens = md.strings('tokenizer.ggml.tokens');
  const types = md.numbers('tokenizer.ggml.token_type') ?? [];
  const scores = md.numbers('tokenizer.ggml.scores');
  if (scores === null || scores.length !== tokens.length) {
    throw new GgufError(path, 'metadata key tokenizer.ggml.scores', 'a "llama" (SentencePiece) vocabulary needs one score per token');
  }
  const ids = new Map<string, number>(); // the first id of a piece wins
  const added: Record<string, unknown>[] = [];
  tokens.forEach((tok, id) => {
    if (!ids.has(tok)) ids.set(tok, id);
    const type = types[id] ?? 1;
    if (type === UNKNOWN || type === CONTROL || type === USER_DEFINED) {
      added.push({ id, content: tok, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type !== USER_DEFINED });
    }
  });
  const unkId = md.optionalNumber('tokenizer.ggml.unknown_token_id');
  const bosId = md.optionalNumber('tokenizer.ggml.bos_token_id');
  const eosId = md.optionalNumber('tokenizer.ggml.eos_token_id');
  const bos = bosId !== null ? (tokens[bosId] ?? null) : null;
  // SentencePiece prepends a space to the text (llama.cpp: add_space_prefix, default on).
  const spacePrefix = md.bool('tokenizer.ggml.add_space_prefix', true);
  const replace = { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: spacePrefix ? [{ type: 'Prepend', prepend: '\u2581' }, replace] : [replace] },
    pre_tokenizer: null,
    post_processor: specialsTemplate(...addedSpecials(md, tokens, true)),
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(spacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unkId !== null ? (tokens[unkId] ?? null) : null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(ids),
      merges: sentencePieceMerges(tokens, scores, ids),
    },
  };
  return { tokenizerJson, tokenizerConfig: tokenizerConfig(md, tokens, bos, eosId), tokens };
}
