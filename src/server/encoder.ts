// Prompt encoding that keeps the event loop free. Measured (see the issue #4
// report): a 32k-token prompt takes ~0.1 s to encode on a quiet core and
// ~1 s on a loaded one, and every other stream stalls that long when it runs
// on the main thread. Texts above a threshold therefore go to a one-thread
// piscina pool holding its own copy of the tokenizer; short ones stay inline,
// where a worker round trip would cost more than it saves.

import { Piscina } from 'piscina';
import type { TokenizerApi } from '../engine/types.js';
import { workerEntry } from '../worker-entry.js';

/** Which module's loadTokenizer(arg) builds the worker's tokenizer (a file URL and its argument). */
export interface TokenizerSource {
  module: string;
  arg: string;
}

export interface Encoder {
  encode(text: string, addSpecialTokens: boolean): Promise<number[]>;
  /** How many encodes ran in the worker (for tests and logs). */
  offloaded(): number;
  close(): Promise<void>;
}

/** ~4 chars a token: below ~2k tokens, encoding inline takes a few ms at most. */
export const DEFAULT_OFFLOAD_CHARS = 8192;

export function createEncoder(
  tokenizer: TokenizerApi,
  source: TokenizerSource | null,
  thresholdChars = DEFAULT_OFFLOAD_CHARS,
  onError?: (err: unknown) => void,
): Encoder {
  if (source === null) {
    return { encode: (text, add) => Promise.resolve(tokenizer.encode(text, add)), offloaded: () => 0, close: () => Promise.resolve() };
  }
  const pool = new Piscina({ ...workerEntry(import.meta.url, 'tokenize-worker', source), minThreads: 1, maxThreads: 1, idleTimeout: Infinity });
  // A worker that cannot load the tokenizer must not take the server down:
  // remember why and encode inline from then on.
  let broken: unknown = null;
  pool.on('error', (err: unknown) => {
    broken = err;
    onError?.(err);
  });
  let count = 0;
  return {
    async encode(text, addSpecialTokens) {
      if (text.length < thresholdChars || broken !== null) return tokenizer.encode(text, addSpecialTokens);
      count++;
      return (await pool.run({ text, addSpecialTokens })) as number[];
    },
    offloaded: () => count,
    close: () => pool.destroy(),
  };
}
