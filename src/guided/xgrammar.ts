// Grammar-guided decoding (vLLM's guided decoding, OpenAI's response_format)
// through xgrammar's WebAssembly build, the npm package
// @mlc-ai/web-xgrammar. Its grammar matcher says which tokens may come next;
// the engine bans the others for the next step through the sampler's banned
// list (-inf before sampling, on the CPU and on the device alike), so the
// native side needs nothing of its own.
//
// Loading: the package's lib/index.js is a UMD bundle, but its package.json
// says "type": "module", so Node imports it as an ES module in which the
// bundle finds neither `require` nor `exports` and exports nothing. It is
// compiled here as the CommonJS module it is (Module#_compile, the same
// call require() makes), which also gives it the dynamic import() its
// emscripten loader uses.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type * as Xg from '@mlc-ai/web-xgrammar';
import { GrammarChecker, OVERFLOW } from './grammar-check.js';

type XgModule = typeof Xg;

interface CjsModule {
  filename: string;
  paths: string[];
  exports: unknown;
  _compile(code: string, filename: string): void;
}
interface CjsModuleCtor {
  new (id: string, parent: null): CjsModule;
  _nodeModulePaths(dir: string): string[];
}

const require = createRequire(import.meta.url);
let loaded: XgModule | null = null;
let started: Promise<void> | null = null;
/** While a grammar compiles: what the library prints (its errors come only that way). */
let captured: string[] | null = null;

/** The xgrammar bindings (loaded once; the WebAssembly itself starts on first use). */
export function xgrammar(): XgModule {
  if (loaded !== null) return loaded;
  const file = require.resolve('@mlc-ai/web-xgrammar');
  const Module = require('node:module') as CjsModuleCtor;
  const mod = new Module(file, null);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(dirname(file));
  mod._compile(readFileSync(file, 'utf8'), file);
  loaded = mod.exports as XgModule;
  return loaded;
}

/**
 * Starts the WebAssembly module once. Its stderr is console.error as it
 * stands when the module starts (emscripten binds it then), so a
 * dispatcher is in place for that moment: it hands what the library prints
 * while a grammar compiles to compile() (a schema it cannot use prints
 * "[FATAL] file:line: reason" and throws only "Aborted()"), and everything
 * else to the real console.error.
 */
function start(): Promise<void> {
  if (started !== null) return started;
  const xg = xgrammar();
  const original = console.error;
  const dispatch = (...args: unknown[]): void => {
    if (captured !== null) captured.push(args.map(String).join(' '));
    else original.apply(console, args);
  };
  console.error = dispatch;
  started = xg.Grammar.builtinJSONGrammar().then(
    (g) => {
      console.error = original;
      g.dispose();
    },
    (err: unknown) => {
      console.error = original;
      started = null;
      throw err;
    },
  );
  return started;
}

/**
 * The reason in the library's last "[FATAL] file:line: reason" line, else
 * the thrown error's message. Some of its checks (a structural tag's
 * format) throw a C++ exception that reaches JS as a bare number (a pointer,
 * no message): that says only that the library refused.
 */
function libraryReason(lines: readonly string[], err: unknown): string {
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /\[FATAL\][^:]*:\d+:\s*(.*)$/s.exec(lines[i]);
    if (m !== null) return m[1].trim();
  }
  if (typeof err === 'number') return 'xgrammar refused it and gave no reason (check each part\'s "type" and its fields)';
  const message = err instanceof Error ? err.message : String(err);
  // A trap, or an abort with nothing printed: its stack overflowed and ran
  // into memory or code it should not (grammar-check.ts).
  if ((err instanceof Error && err.name === 'RuntimeError') || (err instanceof RangeError && /call stack/.test(message))) {
    return `it is ${OVERFLOW} (its stack overflowed: ${message.replace(/\. Build with .*$/, '')})`;
  }
  return message;
}

/** How the tokenizer's vocabulary strings map to bytes (xgrammar's VocabType). */
export type VocabType = 'raw' | 'byte_fallback' | 'byte_level';

/** What xgrammar needs of a tokenizer. */
export interface GuidedVocab {
  /** Every token's string as the tokenizer stores it, by id ('' for ids without one). */
  tokens: string[];
  type: VocabType;
  /** SentencePiece's leading "▁" on the first word. */
  prependSpace: boolean;
  /** Rows of the logits (at least tokens.length). */
  vocabSize: number;
  /** The tokens that end a sequence (the grammar allows them once its text is complete). */
  stopTokenIds: number[];
}

/** What a tokenizer itself knows of that (the model adds vocabSize and stopTokenIds). */
export type TokenizerVocab = Pick<GuidedVocab, 'tokens' | 'type' | 'prependSpace'>;

/**
 * What a request asks its output to be: a JSON object, JSON of a schema
 * (the schema as JSON text), one of a list of strings, the language of an
 * EBNF grammar (xgrammar's dialect, rule "root"), a match of a regular
 * expression (xgrammar's regex: no lookaround, backreferences or word
 * boundaries), or an xgrammar structural tag as JSON text: its current
 * form ({"type": "structural_tag", "format": {...}}) or the legacy one
 * vLLM's response_format also takes ({"structures": [{begin, schema,
 * end}], "triggers": [...]}: free text until a trigger, then a tag whose
 * body is JSON of its schema).
 */
export type GuideSpec =
  | { kind: 'json_object' }
  | { kind: 'json_schema'; schema: string }
  | { kind: 'choice'; choices: string[] }
  | { kind: 'grammar'; ebnf: string }
  | { kind: 'regex'; pattern: string }
  | { kind: 'structural_tag'; tag: string };

/** The legacy structural tag (vLLM's response_format with `structures` and `triggers`). */
interface LegacyStructuralTag {
  structures: { begin: string; schema: unknown; end: string }[];
  triggers: string[];
}

/** Whether parsed structural-tag JSON is the legacy form (it has `structures`). */
function isLegacyStructuralTag(v: unknown): v is LegacyStructuralTag {
  return typeof v === 'object' && v !== null && 'structures' in v;
}

/**
 * A list of strings as an EBNF rule. JSON's string syntax is a subset of
 * xgrammar's string literals (\" \\ \n \t \uXXXX ...), so each choice
 * is written as its JSON string.
 */
export function choiceGrammar(choices: readonly string[]): string {
  return `root ::= ${choices.map((c) => JSON.stringify(c)).join(' | ')}`;
}

/** A request's grammar state, one per choice; the engine drives it a token at a time. */
export interface TokenGuide {
  /** The tokens the grammar rejects next, ascending; the step bans them. */
  rejected(): readonly number[];
  /** Books a sampled token; false if the grammar rejects it. */
  accept(token: number): boolean;
  /** Recomputes rejected() after accept() (the library's call is async). */
  refresh(): Promise<void>;
  dispose(): void;
}

export class GuideError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuideError';
  }
}

/** The ids whose bit is 0 in xgrammar's bitmask (bit i of word i >> 5 set = token i allowed). */
function rejectedIds(mask: Int32Array, vocabSize: number, out: number[]): void {
  out.length = 0;
  for (let w = 0; w < mask.length; w++) {
    const word = mask[w];
    if (word === -1) continue;
    const base = w * 32;
    for (let b = 0; b < 32 && base + b < vocabSize; b++) {
      if ((word & (1 << b)) === 0) out.push(base + b);
    }
  }
}

class XgGuide implements TokenGuide {
  private ids: number[] = [];
  private disposed = false;

  constructor(
    private readonly matcher: Xg.GrammarMatcher,
    private readonly vocabSize: number,
  ) {}

  rejected(): readonly number[] {
    return this.ids;
  }

  accept(token: number): boolean {
    return this.matcher.acceptToken(token);
  }

  async refresh(): Promise<void> {
    if (this.disposed || this.matcher.isTerminated()) {
      this.ids = [];
      return;
    }
    rejectedIds(await this.matcher.getNextTokenBitmask(), this.vocabSize, this.ids);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.matcher.dispose();
  }
}

/** What a spec's source is called in the error when it does not compile. */
const WHAT: Record<GuideSpec['kind'], string> = {
  json_object: 'JSON schema',
  json_schema: 'JSON schema',
  choice: 'choice list',
  grammar: 'grammar',
  regex: 'regular expression',
  structural_tag: 'structural tag',
};

/** The most compiled grammars kept (a schema compiles in ~10-200 ms). */
const MAX_CACHED = 32;

/** One tokenizer's grammar compiler: compiles request formats (cached) and makes their guides. */
export class GuideFactory {
  private readonly cache = new Map<string, Promise<Xg.CompiledGrammar>>();

  private constructor(
    private readonly compiler: Xg.GrammarCompiler,
    private readonly vocabSize: number,
    private readonly checker: GrammarChecker | null,
  ) {}

  /**
   * `checked` (the default): every source is compiled first by a
   * GrammarChecker's worker and only what compiled there is compiled here
   * (grammar-check.ts says why). The checker's own factory is unchecked.
   */
  static async create(vocab: GuidedVocab, opts: { checked?: boolean } = {}): Promise<GuideFactory> {
    await start();
    const xg = xgrammar();
    const info = await xg.TokenizerInfo.createTokenizerInfo(vocab.tokens, vocab.type, vocab.prependSpace, vocab.vocabSize, vocab.stopTokenIds);
    // No cache of its own (the factory keeps the compiled grammars): after a
    // schema that fails to compile, its cache entry stays in progress and
    // the same schema again would wait for it forever (measured: the request
    // hung).
    const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
    return new GuideFactory(compiler, vocab.vocabSize, opts.checked === false ? null : new GrammarChecker(vocab));
  }

  /** The cache key of a spec: its kind of source, then the source. */
  private static keyOf(spec: GuideSpec): string {
    switch (spec.kind) {
      // OpenAI's json_object is "a JSON object", not any JSON value.
      case 'json_object': return 'schema:{"type": "object"}';
      case 'json_schema': return `schema:${spec.schema}`;
      case 'choice': return `ebnf:${choiceGrammar(spec.choices)}`;
      case 'grammar': return `ebnf:${spec.ebnf}`;
      case 'regex': return `regex:${spec.pattern}`;
      case 'structural_tag': return `tag:${spec.tag}`;
    }
  }

  private compileSource(key: string): Promise<Xg.CompiledGrammar> {
    const colon = key.indexOf(':');
    const source = key.slice(colon + 1);
    switch (key.slice(0, colon)) {
      case 'schema':
        // Any whitespace between JSON elements, at most 16 in a row: a model
        // left to itself (or a random one) may otherwise pad with whitespace
        // until max_tokens. strictMode: no properties the schema does not name.
        return this.compiler.compileJSONSchema(source, true, undefined, undefined, true, 16);
      case 'regex':
        // xgrammar takes a regex as a structural tag of one regex format (its
        // web build has no regex entry of its own).
        return this.compiler.compileStructuralTag({ type: 'structural_tag', format: { type: 'regex', pattern: source } });
      case 'tag': {
        const tag: unknown = JSON.parse(source);
        if (!isLegacyStructuralTag(tag)) return this.compiler.compileStructuralTag(source);
        const xg = xgrammar();
        const items = tag.structures.map((st) => new xg.StructuralTagItem(st.begin, JSON.stringify(st.schema), st.end));
        return this.compiler.compileStructuralTag(items, tag.triggers);
      }
      default:
        return this.compiler.compileGrammar(source, 'root');
    }
  }

  private compile(spec: GuideSpec): Promise<Xg.CompiledGrammar> {
    const key = GuideFactory.keyOf(spec);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const what = WHAT[spec.kind];
    const checker = this.checker;
    const p = (async () => {
      const refused = checker === null ? null : await checker.check(key);
      if (refused !== null) throw new GuideError(`the ${what} cannot be used: ${refused}`);
      try {
        return await this.compileKey(key);
      } catch (err) {
        throw new GuideError(`the ${what} cannot be used: ${err instanceof Error ? err.message : String(err)}`);
      }
    })();
    p.catch(() => {
      if (this.cache.get(key) === p) this.cache.delete(key);
    });
    this.cache.set(key, p);
    if (this.cache.size > MAX_CACHED) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) {
        void this.cache.get(oldest)?.then((g) => { g.dispose(); }, () => undefined);
        this.cache.delete(oldest);
      }
    }
    return p;
  }

  /** Compiles a cache key's source here; the library's refusal is a GuideError with its reason. */
  private async compileKey(key: string): Promise<Xg.CompiledGrammar> {
    const lines: string[] = [];
    captured = lines;
    try {
      // A source the library refuses before it compiles (a structural tag of
      // the wrong shape) throws in the call, not in its promise.
      return await this.compileSource(key);
    } catch (err) {
      throw new GuideError(libraryReason(lines, err));
    } finally {
      if (captured === lines) captured = null;
    }
  }

  /** The checker worker's one call: null when the source (a cache key) compiles, else the library's reason. */
  async tryCompile(key: string): Promise<string | null> {
    try {
      (await this.compileKey(key)).dispose();
      return null;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  /** Frees the compiler, the checker's worker and the cached grammars (guides made from them keep what they need). */
  dispose(): void {
    void this.checker?.close();
    for (const p of this.cache.values()) void p.then((g) => { g.dispose(); }, () => undefined);
    this.cache.clear();
    this.compiler.dispose();
  }

  /** `n` guides for a request's choices, each at the grammar's start; a schema that does not compile is a GuideError. */
  async guides(spec: GuideSpec, n: number): Promise<TokenGuide[]> {
    const grammar = await this.compile(spec);
    const out: XgGuide[] = [];
    for (let i = 0; i < n; i++) {
      const g = new XgGuide(await xgrammar().GrammarMatcher.createGrammarMatcher(grammar), this.vocabSize);
      await g.refresh();
      out.push(g);
    }
    return out;
  }
}
