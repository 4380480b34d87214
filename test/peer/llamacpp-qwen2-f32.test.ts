import t from 'tap';
import { compareWithLlamaCpp } from './compare-llamacpp.js';

t.test('qwen2 f32 GGUF: greedy tokens and next-token probabilities match llama.cpp', (t) => compareWithLlamaCpp(t, { arch: 'qwen2', dtype: 'f32' }));
