// vLLM's --hf-overrides (a JSON object laid over the model's config.json),
// served for one use only: a causal LM scored as a "classifier from token"
// cross-encoder, as vLLM serves the original Qwen3-Reranker:
//   --hf-overrides '{"architectures": ["Qwen3ForSequenceClassification"],
//     "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true}'
// vLLM's rules (model_executor/models/config.py and adapters.py):
//   - is_original_qwen3_reranker: true needs exactly two tokens and sets
//     method "from_2_way_softmax";
//   - from_2_way_softmax (two tokens [false, true]): one label whose weight
//     is lm_head[true] - lm_head[false], so the label's logit is
//     logit(true) - logit(false), and the score is its sigmoid (the
//     cross-encoder activation of a one-label model);
//   - no_post_processing: one label per token, the token's raw logit (a
//     single token: sigmoid(logit));
//   - classifier_from_token without a method fails vLLM's weight loading
//     ("method None not supported"), a method without tokens its config check.
// Served here: from_2_way_softmax (and is_original_qwen3_reranker). Not
// no_post_processing: the engine reports log-probabilities, logits up to a
// constant shared by the vocabulary, from which a difference of two
// tokens' logits follows but not one token's logit. Any other key (vLLM
// accepts every config.json field) is refused: nothing is silently ignored.
import { isRecord } from '../is-record.js';

export const CLASSIFIER_METHODS = ['from_2_way_softmax', 'no_post_processing'] as const;
export type ClassifierMethod = (typeof CLASSIFIER_METHODS)[number];

/** The keys of --hf-overrides read here, as given; null: absent. */
export interface HfOverrides {
  /** Informational (vLLM routes the model by it). */
  architectures: string[] | null;
  classifierFromToken: string[] | null;
  isOriginalQwen3Reranker: boolean | null;
  method: ClassifierMethod | null;
}

/** What /score and /rerank score with: two vocabulary entries, [false, true]. */
export interface ClassifierSpec {
  method: 'from_2_way_softmax';
  tokens: readonly [string, string];
}

const SERVED_KEYS = ['architectures', 'classifier_from_token', 'is_original_qwen3_reranker', 'method'];
const FLAG = '--hf-overrides';

function fail(message: string): never {
  throw new Error(`${FLAG}: ${message}`);
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Parses --hf-overrides (JSON text); an error names the flag and the key. */
export function parseHfOverrides(text: string | null): HfOverrides {
  const out: HfOverrides = { architectures: null, classifierFromToken: null, isOriginalQwen3Reranker: null, method: null };
  if (text === null) return out;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    fail(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isRecord(v)) fail('must be a JSON object, e.g. {"classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true}');
  for (const [key, value] of Object.entries(v)) {
    switch (key) {
      case 'architectures':
        if (!isStringList(value)) fail(`architectures must be a list of strings, got ${JSON.stringify(value)}`);
        out.architectures = value;
        break;
      case 'classifier_from_token':
        if (!isStringList(value) || value.length < 1 || value.length > 2 || value.some((t) => t === '')) {
          fail(`classifier_from_token must be a list of one or two vocabulary entries (non-empty strings), got ${JSON.stringify(value)}`);
        }
        out.classifierFromToken = value;
        break;
      case 'is_original_qwen3_reranker':
        if (typeof value !== 'boolean') fail(`is_original_qwen3_reranker must be true or false, got ${JSON.stringify(value)}`);
        out.isOriginalQwen3Reranker = value;
        break;
      case 'method':
        if (typeof value !== 'string' || !(CLASSIFIER_METHODS as readonly string[]).includes(value)) {
          fail(`method must be one of ${CLASSIFIER_METHODS.join(', ')} (vLLM's), got ${JSON.stringify(value)}`);
        }
        out.method = value as ClassifierMethod;
        break;
      default:
        fail(`${JSON.stringify(key)} is not served (served: ${SERVED_KEYS.join(', ')}: vLLM's "classifier from token" reranker; other config.json overrides are not applied)`);
    }
  }
  return out;
}

/** The classifier the overrides ask for, by vLLM's rules (see the head of this file); null: none. */
export function classifierSpec(o: HfOverrides): ClassifierSpec | null {
  const tokens = o.classifierFromToken;
  let method = o.method;
  if (o.isOriginalQwen3Reranker === true) {
    if (tokens?.length !== 2) fail('is_original_qwen3_reranker needs classifier_from_token with two tokens, e.g. ["no", "yes"]');
    if (method !== null && method !== 'from_2_way_softmax') fail(`is_original_qwen3_reranker means method from_2_way_softmax, not ${method}`);
    method = 'from_2_way_softmax';
  }
  if (tokens === null) {
    if (method !== null) fail(`method ${method} needs classifier_from_token`);
    return null;
  }
  if (method === null) fail('classifier_from_token needs a method: "method": "from_2_way_softmax", or "is_original_qwen3_reranker": true (vLLM fails to load it without one)');
  if (method === 'no_post_processing') {
    fail('method no_post_processing is not served: its score is the sigmoid of a token\'s raw logit, and the engine gives log-probabilities, which fix a difference of two logits but not one logit; from_2_way_softmax (two tokens) is served');
  }
  if (tokens.length !== 2) fail(`method from_2_way_softmax needs two tokens in classifier_from_token ([false, true], e.g. ["no", "yes"]), got ${tokens.length}`);
  if (tokens[0] === tokens[1]) fail(`classifier_from_token names ${JSON.stringify(tokens[0])} twice: every pair would score 0.5`);
  return { method, tokens: [tokens[0], tokens[1]] };
}
