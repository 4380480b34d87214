// The one table of `hipserve serve` options. Flags, YAML keys, HIPSERVE_*
// environment variables, defaults, help text and the exported JSON Schema are
// all derived from it, so they cannot drift apart.

export type OptionKind = 'string' | 'int' | 'number' | 'bool' | 'size' | 'list' | 'enum';

export interface OptionSpec {
  /** camelCase field of ServeConfig. */
  key: keyof ServeConfig;
  /** kebab-case name: the flag without "--" and the YAML key. */
  name: string;
  kind: OptionKind;
  help: string;
  /** Default value (already normalized); null = decided by the engine or the model. */
  default: ServeConfig[keyof ServeConfig];
  nullable?: boolean;
  min?: number;
  max?: number;
  /** Exclusive lower bound, for ratios such as gpu-memory-utilization. */
  exclusiveMin?: number;
  values?: readonly string[];
  /** Name of the environment variable when it is not HIPSERVE_<NAME>. */
  env?: string;
}

export type Device = 'auto' | 'cpu' | 'hip' | 'hip-emu';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Everything `hipserve serve` runs with, after flags, env, file and defaults were merged. */
export interface ServeConfig {
  /** Local directory, GGUF file or hub id; null serves the generated demo model. */
  model: string | null;
  revision: string | null;
  /** The names clients pass as "model"; the first is the one responses and metrics report. */
  servedModelName: string[];
  host: string;
  port: number;
  apiKeys: string[];
  maxModelLen: number | null;
  maxNumSeqs: number;
  maxNumBatchedTokens: number | null;
  /** Decode steps per native call (vLLM's name); null = auto (as many as fit the synchronous-step budget, at most 8). */
  numSchedulerSteps: number | null;
  blockSize: number;
  enablePrefixCaching: boolean;
  gpuMemoryUtilization: number;
  /** Bytes for the KV cache; null = derived from gpuMemoryUtilization. */
  kvCacheMemory: number | null;
  /** Element type of the KV cache (KV_CACHE_DTYPES); auto = f16 on the CPU, f32 on a device. */
  kvCacheDtype: string;
  device: Device;
  dtype: string;
  seed: number;
  maxNumQueuedRequests: number;
  logLevel: LogLevel;
  /** 0 = no timeout. */
  requestTimeoutS: number;
  shutdownTimeoutS: number;
  maxBodySize: number;
  allowedOrigins: string[];
  metricsRequireAuth: boolean;
  offline: boolean;
  /** Reads tool calls for tool_choice "auto"; auto = picked from the chat template, none = "auto" is a 400. */
  toolCallParser: ToolCallParserOption;
  /** vLLM's switch for tool_choice "auto"; on by default here (off: "auto" is a 400). */
  enableAutoToolChoice: boolean;
  /** A Jinja file or the template text, replacing the model's chat template; null = the model's. */
  chatTemplate: string | null;
  /** Splits <think> thoughts into reasoning_content; auto = when the chat template writes <think> blocks. */
  reasoningParser: ReasoningParserOption;
  /** vLLM's: usage carries prompt_tokens_details.cached_tokens (the prefix cache's hit). */
  enablePromptTokensDetails: boolean;
  /** /v1/responses kept in memory for previous_response_id and GET (the newest N); 0 = none. */
  responsesStoreSize: number;
  /** vLLM's: auto (the model's generation_config.json), vllm (none), or a directory holding one. */
  generationConfig: string;
  /** vLLM's: a JSON object of sampling defaults over the generation config's; null = none. */
  overrideGenerationConfig: string | null;
  /** llama.cpp's: how embeddings pool the hidden states; auto = the model's (src/models/pooling.ts). */
  pooling: PoolingOption;
  /** vLLM's: a JSON object with pooling_type (LAST, MEAN, CLS) and normalize; null = none. */
  poolerConfig: string | null;
  /** vLLM's: a JSON object over the model's config.json; only the classifier-from-token keys are served (src/models/hf-overrides.ts); null = none. */
  hfOverrides: string | null;
}

export const TOOL_CALL_PARSER_OPTIONS = ['auto', 'hermes', 'llama3_json', 'mistral', 'pythonic', 'qwen3_coder', 'deepseek_v3', 'deepseek_v31', 'none'] as const;
export type ToolCallParserOption = (typeof TOOL_CALL_PARSER_OPTIONS)[number];
export const REASONING_PARSER_OPTIONS = ['auto', 'qwen3', 'deepseek_r1', 'none'] as const;
export type ReasoningParserOption = (typeof REASONING_PARSER_OPTIONS)[number];
export const POOLING_OPTIONS = ['auto', 'last', 'mean', 'cls', 'none'] as const;
export type PoolingOption = (typeof POOLING_OPTIONS)[number];
export const DTYPES = ['auto', 'float32', 'float', 'float16', 'half', 'bfloat16'] as const;
export const KV_CACHE_DTYPES = ['auto', 'float16', 'half', 'float32', 'float'] as const;
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'hip', 'hip-emu'];
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'model', name: 'model', kind: 'string', nullable: true, default: null, help: 'Model directory, GGUF file or hub id (none: the generated demo model, whose text is noise)' },
  { key: 'revision', name: 'revision', kind: 'string', nullable: true, default: null, help: 'Hub revision (branch, tag or commit) of --model' },
  { key: 'servedModelName', name: 'served-model-name', kind: 'list', default: [], help: 'Names clients pass as "model", comma-separated or repeated (vLLM\'s several names); the first is the one reported (default: --model)' },
  { key: 'host', name: 'host', kind: 'string', default: '127.0.0.1', help: 'Address to bind; 0.0.0.0 exposes the server to the network' },
  { key: 'port', name: 'port', kind: 'int', min: 0, max: 65535, default: 8000, help: 'TCP port' },
  { key: 'apiKeys', name: 'api-key', kind: 'list', default: [], help: 'API key clients must send as "Authorization: Bearer KEY"; repeat or comma-separate for several' },
  { key: 'maxModelLen', name: 'max-model-len', kind: 'int', min: 1, nullable: true, default: null, help: 'Context length (prompt + output tokens); default: the model\'s' },
  { key: 'maxNumSeqs', name: 'max-num-seqs', kind: 'int', min: 1, max: 65536, default: 256, help: 'Most sequences running in one step' },
  { key: 'maxNumBatchedTokens', name: 'max-num-batched-tokens', kind: 'int', min: 1, nullable: true, default: null, help: 'Token budget of one step (chunked prefill); default chosen by the engine' },
  { key: 'numSchedulerSteps', name: 'num-scheduler-steps', kind: 'int', min: 1, max: 256, nullable: true, default: null, help: 'Decode steps per native call while all running requests decode and none waits; tokens stream in bursts of that many (default: as many as fit in HIPSERVE_SYNC_STEP_MS, at most 8)' },
  { key: 'blockSize', name: 'block-size', kind: 'int', min: 1, max: 256, default: 16, help: 'Tokens per KV-cache block' },
  { key: 'enablePrefixCaching', name: 'enable-prefix-caching', kind: 'bool', default: true, help: 'Reuse KV blocks of shared prompt prefixes (--no-enable-prefix-caching to turn off)' },
  { key: 'gpuMemoryUtilization', name: 'gpu-memory-utilization', kind: 'number', exclusiveMin: 0, max: 1, default: 0.9, help: 'Fraction of device memory the server may use' },
  { key: 'kvCacheMemory', name: 'kv-cache-memory', kind: 'size', nullable: true, default: null, help: 'Bytes for the KV cache, e.g. 2GiB (overrides --gpu-memory-utilization; the CPU default is 2GiB or a quarter of RAM, whichever is smaller)' },
  { key: 'kvCacheDtype', name: 'kv-cache-dtype', kind: 'enum', values: KV_CACHE_DTYPES, default: 'auto', help: 'KV cache element type: float16 halves its memory (auto: float16 on the CPU, float32 on a GPU, whose kernels read f32)' },
  { key: 'device', name: 'device', kind: 'enum', values: DEVICES, default: 'auto', help: 'Compute backend' },
  { key: 'dtype', name: 'dtype', kind: 'enum', values: DTYPES, default: 'auto', help: 'Accepted for vLLM compatibility and ignored: weights keep their file\'s dtype, activations are f32' },
  { key: 'seed', name: 'seed', kind: 'int', min: 0, default: 0, help: 'Seed of the engine\'s random sampling' },
  { key: 'maxNumQueuedRequests', name: 'max-num-queued-requests', kind: 'int', min: 0, default: 1024, help: 'Waiting requests beyond which new ones get 429' },
  { key: 'logLevel', name: 'log-level', kind: 'enum', values: LOG_LEVELS, default: 'info', help: 'Log level' },
  { key: 'requestTimeoutS', name: 'request-timeout', kind: 'number', min: 0, default: 600, help: 'Seconds before a request is aborted (0 = never)' },
  { key: 'shutdownTimeoutS', name: 'shutdown-timeout', kind: 'number', min: 0, default: 30, help: 'Seconds running requests get to finish on SIGTERM before they are aborted' },
  { key: 'maxBodySize', name: 'max-body-size', kind: 'size', min: 1024, default: 16 * 1024 * 1024, help: 'Largest request body, e.g. 16MiB (413 beyond)' },
  { key: 'allowedOrigins', name: 'allowed-origins', kind: 'list', default: [], help: 'CORS origins allowed (comma-separated, "*" for any); CORS is off when empty' },
  { key: 'metricsRequireAuth', name: 'metrics-require-auth', kind: 'bool', default: false, help: 'Require the API key on /metrics too' },
  { key: 'offline', name: 'offline', kind: 'bool', default: false, help: 'Never download: --model must be local or already cached' },
  { key: 'toolCallParser', name: 'tool-call-parser', kind: 'enum', values: TOOL_CALL_PARSER_OPTIONS, default: 'auto', help: 'How tool calls are read from the output for tool_choice "auto": hermes (<tool_call> blocks: Qwen, Hermes), llama3_json (Llama 3.1/3.2 JSON), mistral ([TOOL_CALLS]), pythonic ([f(a=1)]: Llama 3.2 pythonic, Llama 4), qwen3_coder (<function=f><parameter=a>: Qwen3-Coder, Qwen3.5), deepseek_v3 / deepseek_v31 (<｜tool▁calls▁begin｜>: DeepSeek-V3 and R1 / V3.1), auto (picked from the chat template), none' },
  { key: 'chatTemplate', name: 'chat-template', kind: 'string', nullable: true, default: null, help: 'Chat template for /v1/chat/completions instead of the model\'s: a Jinja file (or a .json holding "chat_template"), or the template text itself' },
  { key: 'reasoningParser', name: 'reasoning-parser', kind: 'enum', values: REASONING_PARSER_OPTIONS, default: 'auto', help: 'Return a chat model\'s <think> thoughts apart, as reasoning_content: qwen3 and deepseek_r1 (vLLM\'s names; one <think> reader here), auto (when the chat template writes <think> blocks, as llama.cpp does by default), none (thoughts stay in content, vLLM\'s default)' },
  { key: 'enableAutoToolChoice', name: 'enable-auto-tool-choice', kind: 'bool', default: true, help: 'Serve tool_choice "auto" where a tool-call parser is known (vLLM\'s flag; on by default here, --no-enable-auto-tool-choice to refuse it)' },
  { key: 'responsesStoreSize', name: 'responses-store-size', kind: 'int', min: 0, max: 1_000_000, default: 0, help: 'Keep the newest N /v1/responses responses in memory, for previous_response_id and GET/DELETE /v1/responses/{id} (0: none are kept, as vLLM by default)' },
  { key: 'generationConfig', name: 'generation-config', kind: 'string', default: 'auto', help: 'Where requests\' unset temperature, top_p, top_k, min_p, repetition_penalty (and chat\'s max_tokens) come from: auto (the model\'s generation_config.json, as vLLM), vllm (the server\'s neutral defaults), or a directory holding a generation_config.json' },
  { key: 'overrideGenerationConfig', name: 'override-generation-config', kind: 'string', nullable: true, default: null, help: 'A JSON object of those defaults over the generation config\'s, e.g. \'{"temperature": 0.5}\' (vLLM\'s flag)' },
  { key: 'pooling', name: 'pooling', kind: 'enum', values: POOLING_OPTIONS, default: 'auto', help: 'How /v1/embeddings pools the prompt\'s final hidden states (llama.cpp\'s flag): last (the last token\'s), mean, cls (the first token\'s), none (every token\'s, llama.cpp\'s /embedding only), auto (a sentence-transformers model\'s Pooling module, a GGUF\'s pooling_type, else last as vLLM for a causal LM)' },
  { key: 'poolerConfig', name: 'pooler-config', kind: 'string', nullable: true, default: null, help: 'vLLM\'s flag: a JSON object, \'{"pooling_type": "MEAN", "normalize": false}\' (pooling_type LAST, MEAN or CLS, as --pooling; normalize: the default of a request\'s normalize, true unless given)' },
  { key: 'hfOverrides', name: 'hf-overrides', kind: 'string', nullable: true, default: null, help: 'vLLM\'s flag, served for its "classifier from token" rerankers only: \'{"architectures": ["Qwen3ForSequenceClassification"], "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true}\' makes /score and /rerank score a pair by sigmoid(logit of "yes" - logit of "no") after the two texts (Qwen3-Reranker); any other key is a start-up error' },
  { key: 'enablePromptTokensDetails', name: 'enable-prompt-tokens-details', kind: 'bool', default: false, help: 'Add prompt_tokens_details.cached_tokens (prompt tokens served from the prefix cache) to completions\' and chat\'s usage (vLLM\'s flag; the Responses API always counts them)' },
];

export const OPTION_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.name, o]));

export function envName(spec: OptionSpec): string {
  return spec.env ?? 'HIPSERVE_' + spec.name.toUpperCase().replace(/-/g, '_');
}

/** "an integer >= 1", "one of auto, cpu, hip": what a valid value looks like. */
export function describeValid(spec: OptionSpec): string {
  const range = (what: string): string => {
    const parts: string[] = [];
    if (spec.exclusiveMin !== undefined) parts.push(`> ${spec.exclusiveMin}`);
    if (spec.min !== undefined) parts.push(`>= ${spec.min}`);
    if (spec.max !== undefined) parts.push(`<= ${spec.max}`);
    return parts.length ? `${what} ${parts.join(' and ')}` : what;
  };
  switch (spec.kind) {
    case 'int':
      return range('an integer');
    case 'number':
      return range('a number');
    case 'bool':
      return 'true or false';
    case 'size':
      return range('a size in bytes such as 1048576, 512MiB or 2GiB,');
    case 'enum':
      return `one of ${(spec.values ?? []).join(', ')}`;
    case 'list':
      return 'a string or a list of strings';
    case 'string':
      return 'a string';
  }
}

export function defaultConfig(): ServeConfig {
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) out[o.key] = Array.isArray(o.default) ? [...o.default] : o.default;
  return out as unknown as ServeConfig;
}
