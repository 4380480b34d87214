// The tokenizer built from a GGUF file's tokenizer.ggml.* metadata must give
// the same ids as the model directory's tokenizer.json, decode must
// round-trip, and chat templates must render each family's prompt format.
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgufMetadata, readGguf } from '../../src/models/gguf-reader.js';
import { tokenizerJsonFromGguf } from '../../src/models/gguf-tokenizer-json.js';
import { npmTokenizer } from '../../src/models/npm-tokenizers.js';
import { loadTokenizer as load, loadTokenizerDirSync, readChatTemplateOption, type LoadedTokenizer } from '../../src/models/tokenizer.js';
import { fixtureModel } from '../fixtures/models.js';

// Loading a 150k-token vocabulary takes a moment: load each file once.
const loaded = new Map<string, Promise<LoadedTokenizer>>();
function loadTokenizer(path: string): Promise<LoadedTokenizer> {
  let p = loaded.get(path);
  if (!p) loaded.set(path, (p = load(path)));
  return p;
}

const texts = [
  'Hello world, this is a test.',
  'Ünïcödé: naïve café, 日本語のテキスト, emoji 🙂🚀 and Ελληνικά',
  'def f(x):\n    return x ** 2  # square\n\n\tif x != 0: print(f"{x:>10}")',
  'spaces:    four, then\ttab\t\tand newlines\n\n\n  end   ',
  'numbers 1234567 3.14159 -42 1e-9',
  "it's they're we'll I'd DON'T",
];

// Byte-level BPE (Llama 3, Qwen) and SentencePiece BPE with byte fallback
// (Llama 2's vocabulary: the GGUF carries scores, not merges).
const cases = [
  { name: 'llama', arch: 'llama', opts: {} },
  { name: 'qwen3', arch: 'qwen3', opts: {} },
  { name: 'llama with Llama 2 SentencePiece vocabulary', arch: 'llama', opts: { tokenizer: 'llama2' } },
] as const;

for (const { name, arch, opts } of cases) {
  t.test(`${name}: GGUF-built tokenizer equals the HF one`, async (t) => {
    const hf = await loadTokenizer(await fixtureModel(arch, 'safetensors', opts));
    const gg = await loadTokenizer(await fixtureModel(arch, 'gguf', opts));
    t.equal(gg.vocabSize, hf.vocabSize, 'same vocabulary size');
    t.equal(gg.bosTokenId, hf.bosTokenId, 'same BOS');
    for (const eos of hf.eosTokenIds) t.ok(gg.eosTokenIds.includes(eos), `GGUF stops on EOS ${String(eos)} too`);
    for (const text of texts) {
      const a = hf.encode(text, false);
      t.ok(a.length > 3, 'text encodes to several tokens');
      t.same(gg.encode(text, false), a, `same ids: ${JSON.stringify(text.slice(0, 20))}`);
      t.same(gg.encode(text, true), hf.encode(text, true), 'same ids with special tokens');
      t.equal(hf.decode(a), text, 'HF decode round-trips');
      t.equal(gg.decode(a), text, 'GGUF decode round-trips');
    }
  });
}

t.test('SentencePiece: merges derived from GGUF scores equal the tokenizer.json ones', async (t) => {
  const path = await fixtureModel('llama', 'gguf', { tokenizer: 'llama2' });
  const { tokenizerJson } = tokenizerJsonFromGguf(new GgufMetadata(readGguf(path)));
  const model = tokenizerJson.model as { merges: [string, string][]; vocab: Record<string, number> };
  const hf = JSON.parse(readFileSync(npmTokenizer('llama2').tokenizerJsonPath, 'utf8')) as {
    model: { merges: (string | [string, string])[]; vocab: Record<string, number> };
  };
  const want = hf.model.merges.map((m) => (typeof m === 'string' ? m : m.join(' ')));
  t.equal(model.merges.length, want.length, 'as many merges');
  t.ok(model.merges.every((m, i) => m.join(' ') === want[i]), 'the same merges in the same order');
  t.same(model.vocab, hf.model.vocab, 'the same vocabulary, "constructor" and "toString" included');
});

t.test('GGUF vocabularies it cannot rebuild are errors naming the file and key', async (t) => {
  const path = await fixtureModel('llama', 'gguf', { tokenizer: 'llama2' });
  const file = readGguf(path);
  const noScores = new Map(file.metadata);
  noScores.delete('tokenizer.ggml.scores');
  t.throws(() => tokenizerJsonFromGguf(new GgufMetadata({ ...file, metadata: noScores })), /model\.gguf: .*one score per token.*metadata key tokenizer\.ggml\.scores/);
  const bert = new Map(file.metadata);
  bert.set('tokenizer.ggml.model', { type: 'string', value: 'bert' });
  t.throws(() => tokenizerJsonFromGguf(new GgufMetadata({ ...file, metadata: bert })), /model\.gguf: tokenizer model "bert" is not supported.*metadata key tokenizer\.ggml\.model/);
});

t.test('llama: BOS is added with special tokens; special tokens in text are single ids', async (t) => {
  const tok = await loadTokenizer(await fixtureModel('llama', 'gguf'));
  t.equal(tok.bosTokenId, 128000);
  t.same(tok.encode('Hi', true).slice(0, 1), [128000]);
  t.notOk(tok.encode('Hi', false).includes(128000));
  const ids = tok.encode('<|start_header_id|>user<|end_header_id|>', false);
  t.same([ids[0], ids[ids.length - 1]], [128006, 128007]);
  t.equal(tok.decode(ids, true), 'user', 'skipSpecialTokens drops them');
  t.ok(tok.eosTokenIds.includes(128001), '<|end_of_text|> ends generation');
  t.ok(tok.eosTokenIds.includes(128009), '<|eot_id|> ends generation');
});

t.test('qwen3: no BOS, EOS ids from generation_config', async (t) => {
  const tok = await loadTokenizer(await fixtureModel('qwen3', 'safetensors'));
  t.equal(tok.bosTokenId, null);
  t.same(tok.eosTokenIds, [151645, 151643]);
  t.same(tok.encode('<|im_start|>user', true), [151644, 872]);
  t.equal(tok.tokenToString(872), 'user');
});

t.test('chat templates render the families prompt formats', async (t) => {
  const messages = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi!' },
  ];
  const qwen = await loadTokenizer(await fixtureModel('qwen3', 'gguf'));
  t.equal(
    qwen.applyChatTemplate(messages, { addGenerationPrompt: true }),
    '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n',
  );
  t.notOk(qwen.applyChatTemplate(messages, { addGenerationPrompt: false }).endsWith('assistant\n'));
  const thinkOff = qwen.applyChatTemplate(messages, { addGenerationPrompt: true, extra: { enable_thinking: false } });
  t.ok(thinkOff.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n'), 'extra kwargs reach the template');
  for (const format of ['safetensors', 'gguf'] as const) {
    const llama = await loadTokenizer(await fixtureModel('llama', format));
    t.equal(
      llama.applyChatTemplate(messages, { addGenerationPrompt: true }),
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
      `llama 3 template from ${format}`,
    );
  }
});

// What grammar-guided decoding is given (src/guided/): the same vocabulary
// from either file, every id's string, and the byte mapping of its kind.
for (const { name, arch, opts } of cases) {
  t.test(`${name}: guidedVocab is the same from tokenizer.json and GGUF`, async (t) => {
    const hf = await loadTokenizer(await fixtureModel(arch, 'safetensors', opts));
    const gg = await loadTokenizer(await fixtureModel(arch, 'gguf', opts));
    const a = hf.guidedVocab();
    const b = gg.guidedVocab();
    const sp = 'tokenizer' in opts;
    t.equal(a.type, sp ? 'byte_fallback' : 'byte_level', 'kind');
    t.equal(a.prependSpace, sp, 'SentencePiece prepends "▁"');
    t.same([b.type, b.prependSpace], [a.type, a.prependSpace], 'GGUF: the same kind');
    t.equal(a.tokens.length, hf.vocabSize, 'one string per id');
    t.equal(b.tokens.length, a.tokens.length, 'GGUF: as many');
    let differ = 0;
    for (let i = 0; i < a.tokens.length; i++) if (a.tokens[i] !== b.tokens[i]) differ++;
    t.equal(differ, 0, 'GGUF: the same string for every id');
    const eos = hf.eosTokenIds[0];
    t.equal(a.tokens[eos], hf.tokenToString(eos), 'special tokens as their text');
    t.ok(a.tokens.every((s) => typeof s === 'string'));
  });
}

t.test('--chat-template replaces the model\'s template: a file, a .json, or the text itself', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hipserve-template-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const TEMPLATE = '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}';
  writeFileSync(join(dir, 'chat.jinja'), TEMPLATE);
  writeFileSync(join(dir, 'chat.json'), JSON.stringify({ chat_template: TEMPLATE }));
  writeFileSync(join(dir, 'none.json'), JSON.stringify({ other: 1 }));
  const messages = [{ role: 'user', content: 'Hi' }];
  const want = '[user] Hi\n[assistant] ';
  for (const arch of ['llama', 'qwen3'] as const) {
    for (const format of ['safetensors', 'gguf'] as const) {
      const path = await fixtureModel(arch, format);
      for (const option of [join(dir, 'chat.jinja'), join(dir, 'chat.json'), TEMPLATE]) {
        const tok = await load(path, readChatTemplateOption(option));
        t.equal(tok.applyChatTemplate(messages, { addGenerationPrompt: true }), want, `${arch} ${format}: ${option.startsWith(dir) ? option.slice(dir.length + 1) : 'inline'}`);
        t.equal(tok.chatTemplateText, TEMPLATE, 'and its text is what the parsers read');
      }
    }
  }
  t.throws(() => readChatTemplateOption(join(dir, 'missing.jinja')), /no such file, and not a Jinja template/, 'a path that does not exist');
  t.throws(() => readChatTemplateOption(join(dir, 'none.json')), /no "chat_template" string/, 'a .json without the key');
  const path = await fixtureModel('llama', 'safetensors');
  await t.rejects(load(path, readChatTemplateOption('{% for %}')), /--chat-template \(the text given\).*does not parse/, 'a template that does not parse names where it came from');
});

t.test('GGUF add_eos_token: EOS after the text with special tokens (llama.cpp\'s tokenize; Qwen3-Embedding\'s files)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hipserve-add-eos-'));
  t.teardown(() => { rmSync(root, { recursive: true, force: true }); });
  let n = 0;
  // The tokenizer rebuilt from the file's metadata with `set` changed, loaded as the server loads one.
  const build = (file: ReturnType<typeof readGguf>, set: [string, boolean | number][]): { encode: (text: string, opts: { add_special_tokens: boolean }) => { ids: number[] } } => {
    const metadata = new Map(file.metadata);
    for (const [key, value] of set) metadata.set(key, typeof value === 'boolean' ? { type: 'bool', value } : { type: 'u32', value });
    const parts = tokenizerJsonFromGguf(new GgufMetadata({ ...file, metadata }));
    const dir = join(root, String(n++));
    mkdirSync(dir);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(parts.tokenizerJson));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(parts.tokenizerConfig));
    const tok = loadTokenizerDirSync(dir);
    return { encode: (text, opts) => ({ ids: tok.encode(text, opts.add_special_tokens) }) };
  };
  // BPE (Qwen3's vocabulary): EOS <|endoftext|> appended, nothing before.
  const qwen = readGguf(await fixtureModel('qwen3', 'gguf'));
  const plain = build(qwen, []).encode('Hi there', { add_special_tokens: true }).ids;
  const withEos = build(qwen, [['tokenizer.ggml.add_eos_token', true], ['tokenizer.ggml.eos_token_id', 151643]]);
  t.same(withEos.encode('Hi there', { add_special_tokens: true }).ids, [...plain, 151643], 'the text, then EOS');
  t.same(withEos.encode('Hi there', { add_special_tokens: false }).ids, plain, 'not without special tokens');
  t.same(build(qwen, [['tokenizer.ggml.add_eos_token', false]]).encode('Hi there', { add_special_tokens: true }).ids, plain, 'add_eos_token false: as before');
  // SentencePiece (Llama 2's): BOS first as before, EOS last.
  const spm = readGguf(await fixtureModel('llama', 'gguf', { tokenizer: 'llama2' }));
  const ids = build(spm, [['tokenizer.ggml.add_eos_token', true]]).encode('Hi there', { add_special_tokens: true }).ids;
  const md = new GgufMetadata(spm);
  t.same([ids[0], ids[ids.length - 1]], [md.optionalNumber('tokenizer.ggml.bos_token_id'), md.optionalNumber('tokenizer.ggml.eos_token_id')], 'BOS ... EOS');
});
