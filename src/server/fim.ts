// Fill-in-the-middle (OpenAI's `suffix` on /v1/completions, llama.cpp's
// /infill): the prompt is the text before the gap and `suffix` the text
// after it, put together in the prefix-suffix-middle order with the
// model's FIM tokens, as code models are trained: <pre> prefix <suf>
// suffix <mid>, and the model writes the middle. The tokens are found by
// name in the vocabulary (each must be one token), as llama.cpp finds them.

interface Tokenizer {
  encode(text: string, addSpecialTokens?: boolean): number[];
}

/** The FIM markers of the code-model families whose names are known here. */
const STYLES: readonly { pre: string; suf: string; mid: string }[] = [
  // Qwen2.5-Coder, StarCoder2 (and every Qwen2+ vocabulary)
  { pre: '<|fim_prefix|>', suf: '<|fim_suffix|>', mid: '<|fim_middle|>' },
  // StarCoder, SantaCoder
  { pre: '<fim_prefix>', suf: '<fim_suffix>', mid: '<fim_middle>' },
  // DeepSeek Coder
  { pre: '<｜fim▁begin｜>', suf: '<｜fim▁hole｜>', mid: '<｜fim▁end｜>' },
];

export interface FimTokens {
  pre: number;
  suf: number;
  mid: number;
}

const found = new WeakMap<object, FimTokens | null>();

/** The vocabulary's FIM tokens, or null when it has no known set (each marker one token). */
export function fimTokens(tokenizer: Tokenizer): FimTokens | null {
  let fim = found.get(tokenizer);
  if (fim === undefined) {
    fim = null;
    for (const s of STYLES) {
      const [pre, suf, mid] = [s.pre, s.suf, s.mid].map((m) => tokenizer.encode(m, false));
      if (pre.length === 1 && suf.length === 1 && mid.length === 1) {
        fim = { pre: pre[0], suf: suf[0], mid: mid[0] };
        break;
      }
    }
    found.set(tokenizer, fim);
  }
  return fim;
}

/** What the FIM markers are called, for the error a model without them gives. */
export const FIM_NAMES = STYLES.map((s) => `${s.pre} ${s.suf} ${s.mid}`).join('; ');

/** The ids of a FIM prompt: the tokenizer's leading specials (BOS), <pre> prefix <suf> suffix <mid>. */
export async function fimPrompt(encode: (text: string, addSpecial: boolean) => Promise<number[]>, fim: FimTokens, prefix: string, suffix: string): Promise<number[]> {
  const [lead, before, after] = await Promise.all([encode('', true), encode(prefix, false), encode(suffix, false)]);
  return [...lead, fim.pre, ...before, fim.suf, ...after, fim.mid];
}
