// The tokenizer of a model directory (tokenizer.json + tokenizer_config.json)
// or of a GGUF file (its tokenizer.ggml.* metadata), through
// @huggingface/tokenizers, with chat templates through @huggingface/jinja.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import type { ChatMessage, TokenizerApi } from '../engine/types.js';
import type { TokenizerVocab, VocabType } from '../guided/xgrammar.js';
import { isRecord } from '../is-record.js';
import { GgufError, GgufMetadata, readGguf } from './gguf-reader.js';
import { tokenizerJsonFromGguf } from './gguf-tokenizer-json.js';

export class TokenizerError extends Error {
  /** The file that is missing or broken, when there is one. */
  readonly file: string | null;
  constructor(
    readonly code: 'HIPSERVE_ERR_NO_TOKENIZER' | 'HIPSERVE_ERR_NO_CHAT_TEMPLATE' | 'HIPSERVE_ERR_BAD_TOKENIZER',
    message: string,
    opts: { file?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TokenizerError';
    this.file = opts.file ?? null;
  }
}

/**
 * A broken tokenizer file: the message names the file and what of it was
 * being read, then keeps the underlying reason (a JSON syntax error, the
 * tokenizer library's complaint, ...), which stays available as `cause`.
 */
function badFile(file: string, what: string, err: unknown): TokenizerError {
  const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new TokenizerError('HIPSERVE_ERR_BAD_TOKENIZER', `${file}: ${what}: ${reason}`, { file, cause: err });
}

export interface LoadedTokenizer extends TokenizerApi {
  eosTokenIds: number[];
  bosTokenId: number | null;
  vocabSize: number;
  /** The special-token strings the chat template sees. */
  bosToken: string | null;
  eosToken: string | null;
  hasChatTemplate: boolean;
  /** The vocabulary as grammar-guided decoding needs it (src/guided/); its stop tokens are left to the caller. */
  guidedVocab(): TokenizerVocab;
}

// tokenizer_config.json writes special tokens as a string or as an AddedToken object.
function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && 'content' in v && typeof v.content === 'string') return v.content;
  return null;
}

const isTokenId = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 31;

/** eos_token_id of a config file: absent/null, an id, or a list of ids (integers in 0..2^31-1). */
function idList(v: unknown, file: string, field: string): number[] {
  if (v === undefined || v === null) return [];
  const list: unknown[] = Array.isArray(v) ? v : [v];
  for (const x of list) {
    if (!isTokenId(x)) {
      throw new TokenizerError('HIPSERVE_ERR_BAD_TOKENIZER', `${file}: field '${field}': ${JSON.stringify(x)} is not a token id (an integer in 0..2^31-1)`, { file });
    }
  }
  return list as number[];
}

// End-of-generation tokens llama.cpp also stops on when a GGUF names only one EOS.
const KNOWN_EOG = ['<|eot_id|>', '<|eom_id|>', '<|im_end|>', '<|endoftext|>', '<|end_of_text|>', '<end_of_turn>', '</s>'];

// The package's .d.ts re-exports through extensionless paths that NodeNext
// resolution cannot follow, so its types arrive as `any`; name the methods
// used here.
interface HfTokenizerLib {
  encode(text: string, opts: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[], opts: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  token_to_id(token: string): number | undefined;
}
type HfTokenizerCtor = new (json: object, config: object) => HfTokenizerLib;

class HfTokenizer implements LoadedTokenizer {
  private readonly tok: HfTokenizerLib;
  private readonly template: Template | null;
  readonly hasChatTemplate: boolean;
  readonly chatTemplateText: string | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly bosTokenId: number | null;

  /** `sources` name where the vocabulary and the chat template came from, for errors. */
  constructor(
    private readonly tokenizerJson: object,
    private readonly config: Record<string, unknown>,
    readonly eosTokenIds: number[],
    readonly vocabSize: number,
    sources: { tokenizer: string; template: string },
  ) {
    try {
      this.tok = new (Tokenizer as unknown as HfTokenizerCtor)(tokenizerJson, config);
      // Some malformed files only fail on first use: use it once here.
      this.tok.decode(this.tok.encode('Hi, 1 ü', { add_special_tokens: true }).ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    } catch (err) {
      throw badFile(sources.tokenizer, 'the tokenizer cannot be built from it', err);
    }
    const template = config.chat_template;
    try {
      this.template = typeof template === 'string' ? new Template(template) : null;
    } catch (err) {
      throw badFile(sources.template, "the chat template ('chat_template') does not parse", err);
    }
    this.hasChatTemplate = this.template !== null;
    this.chatTemplateText = typeof template === 'string' ? template : null;
    this.bosToken = tokenText(config.bos_token);
    this.eosToken = tokenText(config.eos_token);
    this.bosTokenId = this.bosToken !== null ? (this.tok.token_to_id(this.bosToken) ?? null) : null;
  }

  encode(text: string, addSpecialTokens = true): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = false): string {
    // No clean-up of spaces before punctuation: decoded text must be the
    // exact text, and streaming decodes piece by piece.
    return this.tok.decode([...ids], { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }

  tokenToString(id: number): string {
    return this.decode([id], false);
  }

  guidedVocab(): TokenizerVocab {
    return guidedVocabOf(this.tokenizerJson as Record<string, unknown>);
  }

  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt: boolean; extra?: Record<string, unknown> }): string {
    if (this.template === null) {
      throw new TokenizerError('HIPSERVE_ERR_NO_CHAT_TEMPLATE', 'this model has no chat template; use /v1/completions or pass a template');
    }
    return this.template.render({
      ...this.config,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt,
    });
  }
}

/** A JSON object from `text` (the contents of `path`); anything else is a TokenizerError naming the file. */
function parseJsonObject(path: string, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw badFile(path, 'invalid JSON', err);
  }
  if (!isRecord(v)) throw new TokenizerError('HIPSERVE_ERR_BAD_TOKENIZER', `${path}: not a JSON object`, { file: path });
  return v;
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw badFile(path, 'cannot be read', err);
  }
  return parseJsonObject(path, text);
}

/** The largest id in tokenizer.json's vocabulary and added tokens (entries of the wrong shape are left to the library). */
function maxId(json: Record<string, unknown>): number {
  let max = -1;
  const vocab = isRecord(json.model) ? json.model.vocab : undefined;
  if (Array.isArray(vocab)) max = vocab.length - 1; // Unigram: [piece, score] by id
  else if (isRecord(vocab)) for (const id of Object.values(vocab)) if (typeof id === 'number' && id > max) max = id;
  if (Array.isArray(json.added_tokens)) {
    for (const t of json.added_tokens as unknown[]) if (isRecord(t) && typeof t.id === 'number' && t.id > max) max = t.id;
  }
  return max;
}

/** Whether a tokenizer.json component, or one of a Sequence of them, has this type. */
function hasPart(v: unknown, type: string): boolean {
  if (!isRecord(v)) return false;
  if (v.type === type) return true;
  for (const key of ['decoders', 'normalizers', 'pretokenizers']) {
    const list = v[key];
    if (Array.isArray(list) && list.some((x) => hasPart(x, type))) return true;
  }
  return false;
}

/**
 * The token strings by id (BPE's vocab map or Unigram's [piece, score]
 * list, then the added tokens) and how they map to bytes: GPT-2 byte-level
 * (a ByteLevel decoder), SentencePiece with <0xNN> byte tokens
 * (byte_fallback), or as they are. A leading "▁" is prepended to the text
 * when the normalizer prepends one or a Metaspace pre-tokenizer adds it.
 */
function guidedVocabOf(json: Record<string, unknown>): TokenizerVocab {
  const tokens: string[] = new Array<string>(maxId(json) + 1).fill('');
  const model = isRecord(json.model) ? json.model : {};
  const vocab = model.vocab;
  if (Array.isArray(vocab)) {
    vocab.forEach((entry: unknown, id) => {
      if (Array.isArray(entry) && typeof entry[0] === 'string') tokens[id] = entry[0];
    });
  } else if (isRecord(vocab)) {
    for (const [piece, id] of Object.entries(vocab)) if (typeof id === 'number' && id >= 0 && id < tokens.length) tokens[id] = piece;
  }
  if (Array.isArray(json.added_tokens)) {
    for (const t of json.added_tokens as unknown[]) {
      if (isRecord(t) && typeof t.id === 'number' && typeof t.content === 'string' && t.id >= 0 && t.id < tokens.length) tokens[t.id] = t.content;
    }
  }
  let type: VocabType = 'raw';
  if (hasPart(json.decoder, 'ByteLevel') || hasPart(json.pre_tokenizer, 'ByteLevel')) type = 'byte_level';
  else if (model.byte_fallback === true || hasPart(json.decoder, 'ByteFallback')) type = 'byte_fallback';
  const meta = isRecord(json.pre_tokenizer) && json.pre_tokenizer.type === 'Metaspace' ? json.pre_tokenizer : null;
  const prependSpace =
    hasPart(json.normalizer, 'Prepend') ||
    (meta !== null && (meta.add_prefix_space === true || meta.prepend_scheme === 'always' || meta.prepend_scheme === 'first'));
  return { tokens, type, prependSpace };
}

function tokenizerJsonPath(dir: string): string {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) throw new TokenizerError('HIPSERVE_ERR_NO_TOKENIZER', `${dir} has no tokenizer.json`);
  return path;
}

/** A chat template given instead of the model's (--chat-template): its text, and where it came from for error messages. */
export interface ChatTemplateOverride {
  text: string;
  source: string;
}

/**
 * --chat-template's value: a file (a Jinja template, or JSON with a
 * "chat_template" key as chat_template.json holds it), else the template
 * text itself when it looks like Jinja; anything else is an error naming it.
 */
export function readChatTemplateOption(value: string): ChatTemplateOverride {
  if (existsSync(value) && statSync(value).isFile()) {
    if (value.endsWith('.json')) {
      const t = readJson(value).chat_template;
      if (typeof t !== 'string') throw new TokenizerError('HIPSERVE_ERR_BAD_TOKENIZER', `${value}: no "chat_template" string in it`, { file: value });
      return { text: t, source: value };
    }
    try {
      return { text: readFileSync(value, 'utf8'), source: value };
    } catch (err) {
      throw badFile(value, 'cannot be read', err);
    }
  }
  if (/\{[{%]/.test(value)) return { text: value, source: '--chat-template (the text given)' };
  throw new TokenizerError('HIPSERVE_ERR_BAD_TOKENIZER', `--chat-template ${JSON.stringify(value.slice(0, 80))}: no such file, and not a Jinja template (no {{ or {%)`);
}

async function loadFromDir(dir: string, override: ChatTemplateOverride | null): Promise<LoadedTokenizer> {
  const path = tokenizerJsonPath(dir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw badFile(path, 'cannot be read', err);
  }
  return fromDir(dir, parseJsonObject(path, text), override);
}

/**
 * The tokenizer of a directory holding tokenizer.json (and optionally
 * tokenizer_config.json, a chat template file, generation_config.json,
 * config.json), read synchronously: for tests and tools that build one
 * where no await fits. The server loads through loadTokenizer.
 */
export function loadTokenizerDirSync(dir: string): LoadedTokenizer {
  return fromDir(dir, readJson(tokenizerJsonPath(dir)), null);
}

function fromDir(dir: string, tokenizerJson: Record<string, unknown>, override: ChatTemplateOverride | null): LoadedTokenizer {
  const cfgPath = join(dir, 'tokenizer_config.json');
  const config: Record<string, unknown> = existsSync(cfgPath) ? readJson(cfgPath) : {};
  let templateFile = cfgPath;
  // Some repos keep the template in its own file (chat_template.jinja / .json).
  if (typeof config.chat_template !== 'string') {
    const jinja = join(dir, 'chat_template.jinja');
    const json = join(dir, 'chat_template.json');
    if (existsSync(jinja)) {
      templateFile = jinja;
      try {
        config.chat_template = readFileSync(jinja, 'utf8');
      } catch (err) {
        throw badFile(jinja, 'cannot be read', err);
      }
    } else if (existsSync(json)) {
      templateFile = json;
      config.chat_template = readJson(json).chat_template;
    }
  }
  if (override !== null) {
    config.chat_template = override.text;
    templateFile = override.source;
  }
  const genPath = join(dir, 'generation_config.json');
  const modelPath = join(dir, 'config.json');
  let eos = existsSync(genPath) ? idList(readJson(genPath).eos_token_id, genPath, 'eos_token_id') : [];
  if (eos.length === 0 && existsSync(modelPath)) eos = idList(readJson(modelPath).eos_token_id, modelPath, 'eos_token_id');
  const tokPath = join(dir, 'tokenizer.json');
  const tok = new HfTokenizer(tokenizerJson, config, [], maxId(tokenizerJson) + 1, { tokenizer: tokPath, template: templateFile });
  if (eos.length === 0 && tok.eosToken !== null) {
    const id = encodeSingle(tok, tok.eosToken);
    if (id !== null) eos = [id];
  }
  tok.eosTokenIds.push(...eos);
  return tok;
}

function encodeSingle(tok: LoadedTokenizer, text: string): number | null {
  const ids = tok.encode(text, false);
  return ids.length === 1 ? (ids[0] ?? null) : null;
}

function loadFromGguf(path: string, override: ChatTemplateOverride | null): LoadedTokenizer {
  const md = new GgufMetadata(readGguf(path));
  let parts: ReturnType<typeof tokenizerJsonFromGguf>;
  try {
    parts = tokenizerJsonFromGguf(md);
  } catch (err) {
    if (err instanceof GgufError) throw err; // already names the file and key
    throw badFile(path, 'the tokenizer.ggml.* metadata does not make a tokenizer', err);
  }
  const { tokenizerJson, tokenizerConfig, tokens } = parts;
  const eos: number[] = [];
  const add = (id: number | null): void => {
    if (id !== null && !eos.includes(id)) eos.push(id);
  };
  // Token ids: integers in 0..2^31-1; -1 (some converters' "none") counts as absent, as natively.
  const tokenId = (key: string): number | null => {
    const v = md.optionalNumber(key);
    if (v === null || v === -1) return null;
    if (!isTokenId(v)) throw new GgufError(path, `metadata key ${key}`, `${String(v)} is not a token id (an integer in 0..2^31-1)`);
    return v;
  };
  add(tokenId('tokenizer.ggml.eos_token_id'));
  add(tokenId('tokenizer.ggml.eot_token_id'));
  add(tokenId('tokenizer.ggml.eom_token_id'));
  const types = md.numbers('tokenizer.ggml.token_type') ?? [];
  for (const name of KNOWN_EOG) {
    const id = tokens.indexOf(name);
    if (id >= 0 && types[id] === 3) add(id);
  }
  if (override !== null) tokenizerConfig.chat_template = override.text;
  return new HfTokenizer(tokenizerJson, tokenizerConfig, eos, tokens.length, {
    tokenizer: `${path} (tokenizer.ggml.* metadata)`,
    template: override?.source ?? `${path} (metadata key tokenizer.chat_template)`,
  });
}

/** Loads the tokenizer of a model directory or a .gguf file; `chatTemplate` replaces the model's template. */
export async function loadTokenizer(modelPath: string, chatTemplate: ChatTemplateOverride | null = null): Promise<LoadedTokenizer> {
  if (!existsSync(modelPath)) throw new TokenizerError('HIPSERVE_ERR_NO_TOKENIZER', `${modelPath} does not exist`);
  if (statSync(modelPath).isDirectory()) return loadFromDir(modelPath, chatTemplate);
  return loadFromGguf(modelPath, chatTemplate);
}
