// vLLM's --hf-overrides as served: only the "classifier from token" keys
// (classifier_from_token, is_original_qwen3_reranker, method, architectures),
// vLLM's rules between them, every other key or value a start-up error
// naming the flag; and the tokens resolved as vocabulary entries of the
// server's tokenizer (Qwen3's here), as vLLM's convert_tokens_to_ids.
import t from 'tap';
import { loadConfig } from '../../src/config/index.js';
import { serveHelp } from '../../src/config/help.js';
import type { TokenizerApi } from '../../src/engine/types.js';
import { classifierSpec, parseHfOverrides } from '../../src/models/hf-overrides.js';
import { loadClassifier, twoWayScore } from '../../src/server/classifier.js';
import { qwen3Tokenizer } from '../helpers/fake-tokenizer.js';

const QWEN3_RERANKER = '{"architectures": ["Qwen3ForSequenceClassification"], "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true}';

t.test('the flag: --hf-overrides (and vLLM\'s --hf_overrides), null by default, in the help', (t) => {
  t.equal(loadConfig({ argv: [], env: {} }).config.hfOverrides, null);
  t.equal(loadConfig({ argv: ['--hf-overrides', QWEN3_RERANKER], env: {} }).config.hfOverrides, QWEN3_RERANKER);
  t.equal(loadConfig({ argv: ['--hf_overrides', '{}'], env: {} }).config.hfOverrides, '{}');
  t.match(serveHelp(), /--hf-overrides/);
  t.end();
});

t.test('parse: the served keys as given', (t) => {
  t.same(parseHfOverrides(null), { architectures: null, classifierFromToken: null, isOriginalQwen3Reranker: null, method: null }, 'not given');
  t.same(parseHfOverrides('{}'), { architectures: null, classifierFromToken: null, isOriginalQwen3Reranker: null, method: null }, 'empty');
  t.same(parseHfOverrides(QWEN3_RERANKER), { architectures: ['Qwen3ForSequenceClassification'], classifierFromToken: ['no', 'yes'], isOriginalQwen3Reranker: true, method: null });
  t.same(parseHfOverrides('{"classifier_from_token": ["no", "yes"], "method": "from_2_way_softmax"}').method, 'from_2_way_softmax');
  t.end();
});

t.test('parse: every bad value and unknown key is an error naming the flag', (t) => {
  const cases: [string, RegExp][] = [
    ['{"classifier_from_token"', /^--hf-overrides: not JSON/],
    ['["no", "yes"]', /^--hf-overrides: must be a JSON object/],
    ['"x"', /^--hf-overrides: must be a JSON object/],
    ['{"architectures": "Qwen3ForSequenceClassification"}', /architectures must be a list of strings/],
    ['{"architectures": [1]}', /architectures must be a list of strings/],
    ['{"classifier_from_token": "yes"}', /classifier_from_token must be a list of one or two/],
    ['{"classifier_from_token": []}', /classifier_from_token must be a list of one or two/],
    ['{"classifier_from_token": ["a", "b", "c"]}', /classifier_from_token must be a list of one or two/],
    ['{"classifier_from_token": ["no", ""]}', /classifier_from_token must be a list of one or two .*non-empty/],
    ['{"classifier_from_token": ["no", 1]}', /classifier_from_token must be a list/],
    ['{"is_original_qwen3_reranker": "true"}', /is_original_qwen3_reranker must be true or false/],
    ['{"method": "softmax"}', /method must be one of from_2_way_softmax, no_post_processing/],
    ['{"is_matryoshka": true}', /"is_matryoshka" is not served \(served: architectures, classifier_from_token, is_original_qwen3_reranker, method/],
    ['{"max_model_len": 4096}', /"max_model_len" is not served/],
  ];
  for (const [text, error] of cases) t.throws(() => parseHfOverrides(text), error, text);
  t.end();
});

t.test('vLLM\'s rules: which overrides make a classifier', (t) => {
  const spec = (text: string): unknown => classifierSpec(parseHfOverrides(text));
  t.equal(spec('{}'), null, 'none asked');
  t.equal(spec('{"architectures": ["Qwen3ForCausalLM"]}'), null, 'architectures alone: informational');
  t.equal(spec('{"is_original_qwen3_reranker": false}'), null, 'false asks for nothing');
  t.same(spec(QWEN3_RERANKER), { method: 'from_2_way_softmax', tokens: ['no', 'yes'] }, 'is_original_qwen3_reranker: from_2_way_softmax');
  t.same(spec('{"classifier_from_token": ["no", "yes"], "method": "from_2_way_softmax"}'), { method: 'from_2_way_softmax', tokens: ['no', 'yes'] }, 'the method named');
  t.same(spec('{"classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true, "method": "from_2_way_softmax"}'), { method: 'from_2_way_softmax', tokens: ['no', 'yes'] }, 'both, agreeing');
  const errors: [string, RegExp][] = [
    ['{"is_original_qwen3_reranker": true}', /is_original_qwen3_reranker needs classifier_from_token with two tokens/],
    ['{"is_original_qwen3_reranker": true, "classifier_from_token": ["yes"]}', /is_original_qwen3_reranker needs classifier_from_token with two tokens/],
    ['{"is_original_qwen3_reranker": true, "classifier_from_token": ["no", "yes"], "method": "no_post_processing"}', /means method from_2_way_softmax, not no_post_processing/],
    ['{"method": "from_2_way_softmax"}', /method from_2_way_softmax needs classifier_from_token/],
    ['{"classifier_from_token": ["no", "yes"]}', /classifier_from_token needs a method/],
    ['{"classifier_from_token": ["yes"], "method": "from_2_way_softmax"}', /from_2_way_softmax needs two tokens .* got 1/],
    ['{"classifier_from_token": ["Yes"], "method": "no_post_processing"}', /no_post_processing is not served: .*raw logit/],
    ['{"classifier_from_token": ["yes", "yes"], "method": "from_2_way_softmax"}', /names "yes" twice/],
  ];
  for (const [text, error] of errors) t.throws(() => spec(text), error, text);
  t.end();
});

t.test('tokens resolve as vocabulary entries of the server\'s tokenizer', (t) => {
  const tok = qwen3Tokenizer();
  const c = loadClassifier(QWEN3_RERANKER, tok, tok.vocabSize);
  t.same(c, { method: 'from_2_way_softmax', tokens: ['no', 'yes'], ids: [tok.encode('no', false)[0], tok.encode('yes', false)[0]] }, 'Qwen3\'s "no" and "yes"');
  t.same(c?.ids, [2152, 9693]);
  t.equal(loadClassifier(null, tok, tok.vocabSize), null, 'no flag: no classifier');
  const ids = loadClassifier('{"classifier_from_token": ["no", "Ġyes"], "method": "from_2_way_softmax"}', tok, tok.vocabSize)?.ids;
  t.same(ids, [2152, tok.encode(' yes', false)[0]], 'a vocabulary entry as it is written there (Ġ: a leading space)');
  const bad = (tokens: string[]): string => `{"classifier_from_token": ${JSON.stringify(tokens)}, "method": "from_2_way_softmax"}`;
  t.throws(() => loadClassifier(bad(['no', ' yes']), tok, tok.vocabSize), /^--hf-overrides: classifier_from_token " yes" is not a token of the model's vocabulary .*is token 9834, the entry "Ġyes"/, 'a text is not an entry; the error names the entry');
  t.throws(() => loadClassifier(bad(['no', 'yes please']), tok, tok.vocabSize), /classifier_from_token "yes please" is not a token/);
  t.throws(() => loadClassifier(bad(['no', 'yes']), tok, 5000), /classifier_from_token "yes" is token 9693, beyond the model's 5000 logits/);
  // A tokenizer without its vocabulary at hand: a text that is exactly one token.
  const bare: TokenizerApi = { ...tok, encode: (s, a) => tok.encode(s, a), decode: (i, s) => tok.decode(i, s), tokenToString: (i) => tok.tokenToString(i), applyChatTemplate: () => '', guidedVocab: undefined };
  t.same(loadClassifier(bad(['no', 'yes']), bare, tok.vocabSize)?.ids, [2152, 9693], 'without guidedVocab: by encoding');
  t.throws(() => loadClassifier(bad(['no', 'yes please']), bare, tok.vocabSize), /"yes please" is not a token/);
  t.end();
});

t.test('from_2_way_softmax: sigmoid of the logit difference (the softmax of the two)', (t) => {
  t.equal(twoWayScore(-3, -3), 0.5);
  const [no, yes] = [Math.log(0.2), Math.log(0.6)];
  t.ok(Math.abs(twoWayScore(no, yes) - 0.75) < 1e-12, '0.6 / (0.6 + 0.2)');
  t.ok(Math.abs(twoWayScore(yes, no) - 0.25) < 1e-12);
  t.equal(twoWayScore(0, -1000), 0, 'far apart: 0, not NaN');
  t.equal(twoWayScore(-1000, 0), 1);
  t.end();
});
