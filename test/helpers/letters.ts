// A 26-token tokenizer for scripted engines: 'a' is 0 ... 'z' is 25; no chat template.
import type { TokenizerApi } from '../../src/engine/types.js';

export const letters: TokenizerApi = {
  encode: (text) => Array.from(text, (c) => c.charCodeAt(0) - 97),
  decode: (ids) => ids.map((i) => String.fromCharCode(97 + i)).join(''),
  applyChatTemplate: () => {
    throw new Error('no template');
  },
  tokenToString: (id) => String.fromCharCode(97 + id),
};
