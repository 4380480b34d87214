// The tokenizer of a model directory (tokenizer.json + tokenizer_config.json)
// or of a GGUF file (its tokenizer.ggml.* metadata), through
// @huggingface/tokenizers, with chat templates through @huggingface/jinja.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import type { ChatMessage, TokenizerApi } from '../engine/types.js';
import { GgufMetadata, readGguf } from './gguf-reader.js';
import { tokenizerJsonFromGguf } from './gguf-tokenizer-json.js';

export class TokenizerError extends Error {
  constructor(
    readonly code: 'HIPSERVE_ERR_NO_TOKENIZER' | 'HIPSERVE_ERR_NO_CHAT_TEMPLATE',
    message: string,
  ) {
    super(message);
    this.name = 'TokenizerError';
  }
}

export interface LoadedTokenizer extends TokenizerApi {
  eosTokenIds: number[];
  bosTokenId: number | null;
  vocabSize: number;
  /** The special-token strings the chat template sees. */
  bosToken: string | null;
  eosToken: string | null;
  hasChatTemplate: boolean;
}

// tokenizer_config.json writes special tokens as a string or as an AddedToken object.
function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && 'content' in v && typeof v.content === 'string') return v.content;
  return null;
}

function idList(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
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
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly bosTokenId: number | null;

  constructor(
    tokenizerJson: object,
    private readonly config: Record<string, unknown>,
    readonly eosTokenIds: number[],
    readonly vocabSize: number,
  ) {
    this.tok = new (Tokenizer as unknown as HfTokenizerCtor)(tokenizerJson, config);
    const template = config.chat_template;
    this.template = typeof template === 'string' ? new Template(template) : null;
    this.hasChatTemplate = this.template !== null;
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

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function maxId(json: Record<string, unknown>): number {
  let max = -1;
  const model = json.model as { vocab?: Record<string, number> } | undefined;
  for (const id of Object.values(model?.vocab ?? {})) if (id > max) max = id;
  for (const t of (json.added_tokens ?? []) as { id: number }[]) if (t.id > max) max = t.id;
  return max;
}

function tokenizerJsonPath(dir: string): string {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) throw new TokenizerError('HIPSERVE_ERR_NO_TOKENIZER', `${dir} has no tokenizer.json`);
  return path;
}

async function loadFromDir(dir: string): Promise<LoadedTokenizer> {
  return fromDir(dir, JSON.parse(await readFile(tokenizerJsonPath(dir), 'utf8')) as Record<string, unknown>);
}

/**
 * The tokenizer of a directory holding tokenizer.json (and optionally
 * tokenizer_config.json, a chat template file, generation_config.json,
 * config.json), read synchronously: for tests and tools that build one
 * where no await fits. The server loads through loadTokenizer.
 */
export function loadTokenizerDirSync(dir: string): LoadedTokenizer {
  return fromDir(dir, readJson(tokenizerJsonPath(dir)));
}

function fromDir(dir: string, tokenizerJson: Record<string, unknown>): LoadedTokenizer {
  const cfgPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(cfgPath) ? readJson(cfgPath) : {};
  // Some repos keep the template in its own file (chat_template.jinja / .json).
  if (typeof config.chat_template !== 'string') {
    const jinja = join(dir, 'chat_template.jinja');
    const json = join(dir, 'chat_template.json');
    if (existsSync(jinja)) config.chat_template = readFileSync(jinja, 'utf8');
    else if (existsSync(json)) config.chat_template = readJson(json).chat_template;
  }
  const genPath = join(dir, 'generation_config.json');
  const modelPath = join(dir, 'config.json');
  let eos = existsSync(genPath) ? idList(readJson(genPath).eos_token_id) : [];
  if (eos.length === 0 && existsSync(modelPath)) eos = idList(readJson(modelPath).eos_token_id);
  const tok = new HfTokenizer(tokenizerJson, config, [], maxId(tokenizerJson) + 1);
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

function loadFromGguf(path: string): LoadedTokenizer {
  const md = new GgufMetadata(readGguf(path));
  const { tokenizerJson, tokenizerConfig, tokens } = tokenizerJsonFromGguf(md);
  const eos: number[] = [];
  const add = (id: number | null): void => {
    if (id !== null && !eos.includes(id)) eos.push(id);
  };
  add(md.optionalNumber('tokenizer.ggml.eos_token_id'));
  add(md.optionalNumber('tokenizer.ggml.eot_token_id'));
  add(md.optionalNumber('tokenizer.ggml.eom_token_id'));
  const types = md.numbers('tokenizer.ggml.token_type') ?? [];
  for (const name of KNOWN_EOG) {
    const id = tokens.indexOf(name);
    if (id >= 0 && types[id] === 3) add(id);
  }
  return new HfTokenizer(tokenizerJson, tokenizerConfig, eos, tokens.length);
}

/** Loads the tokenizer of a model directory or a .gguf file. */
export async function loadTokenizer(modelPath: string): Promise<LoadedTokenizer> {
  if (!existsSync(modelPath)) throw new TokenizerError('HIPSERVE_ERR_NO_TOKENIZER', `${modelPath} does not exist`);
  if (statSync(modelPath).isDirectory()) return loadFromDir(modelPath);
  return loadFromGguf(modelPath);
}
