import t from 'tap';
import { compareWithLlamaCpp } from './compare-llamacpp.js';

// A llama model with Llama 2's SentencePiece vocabulary (tokenizer.ggml.model
// "llama"): hipserve builds its tokenizer from the GGUF's scores and must
// tokenize as llama.cpp does, then agree on greedy tokens and probabilities.
t.test('llama f32 GGUF, SentencePiece vocabulary: tokens, greedy runs and probabilities match llama.cpp', (t) =>
  compareWithLlamaCpp(t, { arch: 'llama', dtype: 'f32', tokenizer: 'llama2' }));
