import t from 'tap';
import { compareWithLlamaCpp } from './compare-llamacpp.js';

t.test('llama q8_0 GGUF: greedy tokens and next-token probabilities match llama.cpp', (t) => compareWithLlamaCpp(t, { arch: 'llama', dtype: 'q8_0' }));
