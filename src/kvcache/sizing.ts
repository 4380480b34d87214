// How many KV blocks a memory budget buys, and whether --max-model-len fits.
// A pure function: it returns what the engine logs (the summary, a warning)
// or throws (the error message); it never logs or throws itself.

export interface KvSizingInput {
  /** Bytes available for the KV cache (--kv-cache-memory, or a share of device memory). */
  budgetBytes: number;
  /** Bytes of one block across all layers, K and V (the native addon computes it). */
  bytesPerBlock: number;
  /** Tokens per block. */
  blockSize: number;
  /** The longest sequence (prompt + output) a request may reach. */
  maxModelLen: number;
  /**
   * When maxModelLen does not fit even once: true lowers it to what fits
   * (with a warning), false refuses. vLLM refuses; true by default here so a
   * small --kv-cache-memory still starts, loudly.
   */
  allowLowerMaxModelLen?: boolean;
}

export interface KvSizing {
  ok: true;
  /** Blocks in the pool, the null block 0 included (what the pool and createKvCache take). */
  numBlocks: number;
  /** Tokens the usable blocks hold: (numBlocks - 1) * blockSize. */
  numTokens: number;
  /** maxModelLen after any lowering. */
  maxModelLen: number;
  /** Full-length sequences that fit at once (at least 1). */
  maxConcurrency: number;
  /** One line for the start-up log. */
  summary: string;
  /** Set when maxModelLen was lowered. */
  warning: string | null;
}

export interface KvSizingError {
  ok: false;
  message: string;
}

const MIB = 1024 * 1024;

export function sizeKvCache(input: KvSizingInput): KvSizing | KvSizingError {
  const { budgetBytes, bytesPerBlock, blockSize, maxModelLen } = input;
  for (const [name, v] of [
    ['bytesPerBlock', bytesPerBlock],
    ['blockSize', blockSize],
    ['maxModelLen', maxModelLen],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) return { ok: false, message: `KV cache sizing: ${name} must be positive, got ${v}` };
  }
  if (!Number.isFinite(budgetBytes) || budgetBytes < 0) {
    return { ok: false, message: `KV cache sizing: the memory budget must be a non-negative number of bytes, got ${budgetBytes}` };
  }
  const numBlocks = Math.floor(budgetBytes / bytesPerBlock);
  const usable = numBlocks - 1; // block 0 is the null block
  const budgetMiB = (budgetBytes / MIB).toFixed(1);
  const blockKiB = (bytesPerBlock / 1024).toFixed(1);
  if (usable < 1) {
    return {
      ok: false,
      message:
        `the KV cache budget of ${budgetMiB} MiB holds ${Math.max(numBlocks, 0)} blocks of ${blockKiB} KiB ` +
        `(${blockSize} tokens each), but at least 2 are needed (block 0 is reserved); ` +
        `raise --kv-cache-memory or --gpu-memory-utilization`,
    };
  }
  const numTokens = usable * blockSize;
  let len = maxModelLen;
  let warning: string | null = null;
  if (Math.ceil(len / blockSize) > usable) {
    if (input.allowLowerMaxModelLen === false) {
      return {
        ok: false,
        message:
          `--max-model-len ${maxModelLen} needs ${Math.ceil(maxModelLen / blockSize)} KV blocks, but the budget of ` +
          `${budgetMiB} MiB holds only ${usable} (${numTokens} tokens); raise --kv-cache-memory / ` +
          `--gpu-memory-utilization or lower --max-model-len to at most ${numTokens}`,
      };
    }
    len = numTokens;
    warning =
      `--max-model-len ${maxModelLen} does not fit in the KV cache (${usable} blocks, ${numTokens} tokens ` +
      `from ${budgetMiB} MiB); lowered to ${len}`;
  }
  const maxConcurrency = Math.floor(usable / Math.ceil(len / blockSize));
  const summary =
    `KV cache: ${numBlocks} blocks of ${blockSize} tokens (${blockKiB} KiB each, block 0 reserved), ` +
    `${numTokens} tokens in ${budgetMiB} MiB; ${maxConcurrency} full-length (${len}-token) sequences fit at once`;
  return { ok: true, numBlocks, numTokens, maxModelLen: len, maxConcurrency, summary, warning };
}
