// Random-weight models with real tokenizers, written as a Hugging Face
// directory (config.json + safetensors) or as one GGUF file with llama.cpp's
// names and metadata. Same spec + seed => same weights in both formats: every
// tensor has its own random stream keyed by its HF name.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { normals, seedFrom } from './random.js';
import { roundTo, type WeightDType } from './writers/encode.js';
import type { TensorSource } from './writers/tensor.js';
import { writeSafetensorsModel } from './writers/safetensors.js';
import { writeGguf } from './writers/gguf.js';
import { gguf, type GgufValue } from './gguf-types.js';
import { ggufTokenizerMetadata, npmTokenizer, type TokenizerJson, type TokenizerName } from './npm-tokenizers.js';

export type Arch = 'llama' | 'qwen2' | 'qwen3';

export interface SynthSpec {
  arch: Arch;
  tokenizer: TokenizerName;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPosition: number;
  ropeTheta: number;
  rmsEps: number;
  tieEmbeddings: boolean;
  seed: number;
  /** Marks the built-in demo model in config.json (its text is noise). */
  demo?: boolean;
  name?: string;
}

/** The tiny test models: Qwen3 decouples head_dim from hidden/heads and ties embeddings, as Qwen3-0.6B does. */
export function fixtureSpec(arch: Arch): SynthSpec {
  const base = {
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    intermediateSize: 160,
    maxPosition: 2048,
    ropeTheta: 10000,
    rmsEps: 1e-5,
    tieEmbeddings: false,
    seed: 1234,
  };
  switch (arch) {
    case 'llama':
      return { ...base, arch, tokenizer: 'llama3', ropeTheta: 500000 };
    case 'qwen2':
      return { ...base, arch, tokenizer: 'qwen3', rmsEps: 1e-6, ropeTheta: 1000000 };
    case 'qwen3':
      return { ...base, arch, tokenizer: 'qwen3', headDim: 32, rmsEps: 1e-6, ropeTheta: 1000000, tieEmbeddings: true };
  }
}

export function vocabSize(spec: SynthSpec): number {
  return npmTokenizer(spec.tokenizer).vocabSize;
}

/** Parameter count (the tied lm_head counted once). */
export function parameterCount(spec: SynthSpec): number {
  return hfTensors(spec, 'f32').reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
}

/** The model's tensors under their HF names. 1-D tensors are pre-rounded to `dtype` so GGUF (which keeps them f32) holds the same numbers. */
export function hfTensors(spec: SynthSpec, dtype: WeightDType): TensorSource[] {
  const H = spec.hiddenSize;
  const V = vocabSize(spec);
  const I = spec.intermediateSize;
  const qDim = spec.numHeads * spec.headDim;
  const kvDim = spec.numKvHeads * spec.headDim;
  const vecDtype: 'f32' | 'f16' | 'bf16' = dtype === 'q8_0' ? 'f32' : dtype;
  const out: TensorSource[] = [];
  const seedOf = (name: string): number => seedFrom(spec.seed, name);
  const matrix = (name: string, rows: number, cols: number, std: number): void => {
    out.push({ name, shape: [rows, cols], dtype, values: () => normals(seedOf(name), rows * cols, std) });
  };
  const vector = (name: string, n: number, std: number, mean: number): void => {
    out.push({ name, shape: [n], dtype: vecDtype, values: () => roundTo(vecDtype, normals(seedOf(name), n, std, mean)) });
  };

  // Untied: N(0, 1) rows give logits with std ~sqrt(H), well spread, so the
  // two best rarely tie (a greedy run then does not hinge on rounding).
  // Tied: with rows that large the input token's own row wins every step
  // (E_x . E_x = H beats the best of V random dot products), so the output
  // would repeat the input; 0.3 lets the layers' outputs dominate instead.
  matrix('model.embed_tokens.weight', V, H, spec.tieEmbeddings ? 0.3 : 1);
  // Projections scaled by 1/sqrt(fan_in) keep every layer's output O(1)
  // next to a residual stream of rms ~1, so each layer visibly matters.
  for (let l = 0; l < spec.numLayers; l++) {
    const p = `model.layers.${String(l)}`;
    vector(`${p}.input_layernorm.weight`, H, 0.1, 1);
    matrix(`${p}.self_attn.q_proj.weight`, qDim, H, 1 / Math.sqrt(H));
    matrix(`${p}.self_attn.k_proj.weight`, kvDim, H, 1 / Math.sqrt(H));
    matrix(`${p}.self_attn.v_proj.weight`, kvDim, H, 1 / Math.sqrt(H));
    if (spec.arch === 'qwen2') {
      vector(`${p}.self_attn.q_proj.bias`, qDim, 0.3, 0);
      vector(`${p}.self_attn.k_proj.bias`, kvDim, 0.3, 0);
      vector(`${p}.self_attn.v_proj.bias`, kvDim, 0.3, 0);
    }
    if (spec.arch === 'qwen3') {
      vector(`${p}.self_attn.q_norm.weight`, spec.headDim, 0.1, 1);
      vector(`${p}.self_attn.k_norm.weight`, spec.headDim, 0.1, 1);
    }
    matrix(`${p}.self_attn.o_proj.weight`, H, qDim, 1 / Math.sqrt(qDim));
    vector(`${p}.post_attention_layernorm.weight`, H, 0.1, 1);
    matrix(`${p}.mlp.gate_proj.weight`, I, H, 1 / Math.sqrt(H));
    matrix(`${p}.mlp.up_proj.weight`, I, H, 1 / Math.sqrt(H));
    matrix(`${p}.mlp.down_proj.weight`, H, I, 1 / Math.sqrt(I));
  }
  vector('model.norm.weight', H, 0.1, 1);
  if (!spec.tieEmbeddings) {
    matrix('lm_head.weight', V, H, 1);
  }
  return out;
}

function hfConfig(spec: SynthSpec, dtype: WeightDType): Record<string, unknown> {
  const tok = npmTokenizer(spec.tokenizer);
  const archName = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' }[spec.arch];
  const cfg: Record<string, unknown> = {
    architectures: [archName],
    model_type: spec.arch,
    hidden_size: spec.hiddenSize,
    intermediate_size: spec.intermediateSize,
    num_hidden_layers: spec.numLayers,
    num_attention_heads: spec.numHeads,
    num_key_value_heads: spec.numKvHeads,
    head_dim: spec.headDim,
    max_position_embeddings: spec.maxPosition,
    rms_norm_eps: spec.rmsEps,
    rope_theta: spec.ropeTheta,
    hidden_act: 'silu',
    vocab_size: tok.vocabSize,
    tie_word_embeddings: spec.tieEmbeddings,
    bos_token_id: tok.bosTokenId ?? tok.eosTokenIds[tok.eosTokenIds.length - 1],
    eos_token_id: tok.eosTokenId,
    torch_dtype: { f32: 'float32', f16: 'float16', bf16: 'bfloat16', q8_0: 'float32' }[dtype],
  };
  if (spec.arch === 'llama') cfg.attention_bias = false;
  if (spec.demo === true) cfg.hipserve_demo = true;
  return cfg;
}

/** Writes a Hugging Face model directory (which must exist) for the spec. */
export function writeHfModel(dir: string, spec: SynthSpec, dtype: 'f32' | 'f16' | 'bf16', shards = 1): void {
  const tok = npmTokenizer(spec.tokenizer);
  writeSafetensorsModel(dir, hfTensors(spec, dtype), shards);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfig(spec, dtype), null, 2) + '\n');
  const gen = { bos_token_id: tok.bosTokenId ?? undefined, eos_token_id: tok.eosTokenIds, do_sample: false };
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(gen, null, 2) + '\n');
  if (tok.addBos) {
    // The npm copy of Llama 3's tokenizer.json predates the one on the Hub
    // whose post-processor prepends <|begin_of_text|>; put it back so
    // encode() adds BOS as transformers and llama.cpp do for Llama 3.
    const json = JSON.parse(readFileSync(tok.tokenizerJsonPath, 'utf8')) as Record<string, unknown>;
    json.post_processor = bosPostProcessor(tok.json, tok.bosTokenId);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  } else {
    copyFileSync(tok.tokenizerJsonPath, join(dir, 'tokenizer.json'));
  }
  copyFileSync(tok.tokenizerConfigPath, join(dir, 'tokenizer_config.json'));
}

function bosPostProcessor(json: TokenizerJson, bosId: number | null): Record<string, unknown> {
  const bos = json.added_tokens.find((t) => t.id === bosId)?.content;
  if (bos === undefined || bosId === null) throw new Error('tokenizer has no BOS token');
  return {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
  };
}

// llama.cpp's converter permutes llama's q/k rows so that its interleaved
// RoPE (pairs 2i, 2i+1) equals HF's half-split RoPE (pairs i, i+D/2):
// w.reshape(n_head, 2, D/2, cols).swapaxes(1, 2).reshape(w.shape).
export function permuteQK(w: Float32Array, nHead: number, cols: number): Float32Array {
  const rows = w.length / cols;
  const headDim = rows / nHead;
  const half = headDim / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++) {
    for (let j = 0; j < half; j++) {
      for (let s = 0; s < 2; s++) {
        const src = (h * headDim + s * half + j) * cols;
        const dst = (h * headDim + j * 2 + s) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

const GGUF_NAMES: [RegExp, string][] = [
  [/^model\.embed_tokens\.weight$/, 'token_embd.weight'],
  [/^model\.norm\.weight$/, 'output_norm.weight'],
  [/^lm_head\.weight$/, 'output.weight'],
  [/^model\.layers\.(\d+)\.input_layernorm\.weight$/, 'blk.$1.attn_norm.weight'],
  [/^model\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)$/, 'blk.$1.attn_q.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.k_proj\.(weight|bias)$/, 'blk.$1.attn_k.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.v_proj\.(weight|bias)$/, 'blk.$1.attn_v.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/, 'blk.$1.attn_output.weight'],
  [/^model\.layers\.(\d+)\.self_attn\.q_norm\.weight$/, 'blk.$1.attn_q_norm.weight'],
  [/^model\.layers\.(\d+)\.self_attn\.k_norm\.weight$/, 'blk.$1.attn_k_norm.weight'],
  [/^model\.layers\.(\d+)\.post_attention_layernorm\.weight$/, 'blk.$1.ffn_norm.weight'],
  [/^model\.layers\.(\d+)\.mlp\.gate_proj\.weight$/, 'blk.$1.ffn_gate.weight'],
  [/^model\.layers\.(\d+)\.mlp\.up_proj\.weight$/, 'blk.$1.ffn_up.weight'],
  [/^model\.layers\.(\d+)\.mlp\.down_proj\.weight$/, 'blk.$1.ffn_down.weight'],
];

export function ggufTensorName(hfName: string): string {
  for (const [re, to] of GGUF_NAMES) if (re.test(hfName)) return hfName.replace(re, to);
  throw new Error(`no GGUF name for tensor ${hfName}`);
}

const FILE_TYPE: Record<WeightDType, number> = { f32: 0, f16: 1, q8_0: 7, bf16: 32 };

export function ggufMetadata(spec: SynthSpec, dtype: WeightDType): [string, GgufValue][] {
  const a = spec.arch;
  const tok = npmTokenizer(spec.tokenizer);
  const md: [string, GgufValue][] = [
    ['general.architecture', gguf.str(a)],
    ['general.name', gguf.str(spec.name ?? `hipserve-fixture-${a}`)],
    ['general.file_type', gguf.u32(FILE_TYPE[dtype])],
    [`${a}.context_length`, gguf.u32(spec.maxPosition)],
    [`${a}.embedding_length`, gguf.u32(spec.hiddenSize)],
    [`${a}.block_count`, gguf.u32(spec.numLayers)],
    [`${a}.feed_forward_length`, gguf.u32(spec.intermediateSize)],
    [`${a}.attention.head_count`, gguf.u32(spec.numHeads)],
    [`${a}.attention.head_count_kv`, gguf.u32(spec.numKvHeads)],
    [`${a}.attention.key_length`, gguf.u32(spec.headDim)],
    [`${a}.attention.value_length`, gguf.u32(spec.headDim)],
    [`${a}.rope.freq_base`, gguf.f32(spec.ropeTheta)],
    [`${a}.attention.layer_norm_rms_epsilon`, gguf.f32(spec.rmsEps)],
  ];
  if (a === 'llama') {
    md.push([`${a}.rope.dimension_count`, gguf.u32(spec.headDim)]);
    md.push([`${a}.vocab_size`, gguf.u32(tok.vocabSize)]);
  }
  if (spec.demo === true) md.push(['hipserve.demo', gguf.bool(true)]);
  return [...md, ...ggufTokenizerMetadata(tok)];
}

/** GGUF tensors: llama.cpp names, llama's q/k permuted, norms and biases kept f32 as the converter does. */
export function ggufTensors(spec: SynthSpec, dtype: WeightDType): TensorSource[] {
  return hfTensors(spec, dtype).map((t) => {
    const name = ggufTensorName(t.name);
    const isVector = t.shape.length === 1;
    let values = t.values;
    if (spec.arch === 'llama' && /\.(q|k)_proj\.weight$/.test(t.name)) {
      const nHead = t.name.includes('.q_proj.') ? spec.numHeads : spec.numKvHeads;
      const cols = t.shape[1];
      values = () => permuteQK(t.values(), nHead, cols);
    }
    return { name, shape: t.shape, dtype: isVector ? 'f32' : t.dtype, values };
  });
}

export function writeGgufModel(path: string, spec: SynthSpec, dtype: WeightDType): void {
  writeGguf(path, { metadata: ggufMetadata(spec, dtype), tensors: ggufTensors(spec, dtype) });
}
