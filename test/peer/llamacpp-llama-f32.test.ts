import t from 'tap';
import { compareWithLlamaCpp } from './compare-llamacpp.js';

t.test('llama f32 GGUF: greedy tokens and next-token probabilities match llama.cpp', (t) => compareWithLlamaCpp(t, { arch: 'llama', dtype: 'f32' }));
