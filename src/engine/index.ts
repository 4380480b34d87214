// Start-up: from a ServeConfig to a running Engine. Resolves the model (demo,
// local path or hub id), loads weights and tokenizer, sizes and allocates the
// KV cache, and wires scheduler, runner and engine together.
import { totalmem } from 'node:os';
import type { ServeConfig } from '../config/index.js';
import { markInUse } from '../catalog/in-use.js';
import { resolveModel } from '../catalog/resolve.js';
import { sizeKvCache } from '../kvcache/sizing.js';
import { ensureDemoModel } from '../models/demo.js';
import { samplingDefaults } from '../models/generation-config.js';
import { classifierSpec, parseHfOverrides } from '../models/hf-overrides.js';
import { parsePoolerConfig, readMatryoshka, resolvePooling } from '../models/pooling.js';
import { loadTokenizer, readChatTemplateOption, type ChatTemplateOverride, type LoadedTokenizer } from '../models/tokenizer.js';
import * as native from '../native.js';
import { makeStepRunner, syncStepBudgetFromEnv } from '../runner/forward-policy.js';
import { ModelRunner, type ForwardFn } from '../runner/runner.js';
import { createScheduler } from '../scheduler/scheduler.js';
import { LlmEngine } from './llm-engine.js';
import type { Engine, EngineLogger, ModelInfo, PoolingType, SamplingDefaults } from './types.js';

export type { EngineLogger, SamplingDefaults } from './types.js';

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

const GIB = 1024 ** 3;
/** CPU default KV budget: 2 GiB or a quarter of RAM, whichever is smaller. */
function defaultCpuKvBudget(): number {
  return Math.min(2 * GIB, Math.floor(totalmem() / 4));
}

/**
 * vLLM's rule: the server may use `utilization` of the device's total memory;
 * what is already in use (this model's weights and scratch, other processes)
 * comes off that, and the KV cache gets the rest. May be <= 0.
 */
export function deviceKvBudget(mem: native.DeviceMemoryInfo, utilization: number): number {
  return Math.floor(mem.totalBytes * utilization) - (mem.totalBytes - mem.freeBytes);
}

function mib(bytes: number): string {
  return (bytes / 1024 ** 2).toFixed(1);
}

function unwrap<T>(r: native.Result<T, native.NativeError>, what: string): T {
  if (!r.ok) throw new StartupError(`${what}: ${r.error.message} (${r.error.code}${r.error.where ? `, ${r.error.where}` : ''})`);
  return r.value;
}

async function resolveModelPath(config: ServeConfig): Promise<{ path: string; isDemo: boolean }> {
  if (config.model === null) return { path: await ensureDemoModel(), isDemo: true };
  // resolveModel takes local directories and GGUF files as they are (with
  // `~/` expanded and a clear error for a missing path) and hub ids from the cache.
  const path = await resolveModel(config.model, { offline: config.offline, revision: config.revision ?? undefined });
  return { path, isDemo: false };
}

/** --kv-cache-dtype (vLLM-style names) as loadModel's kvCacheDtype. */
function nativeKvDtype(name: string): 'auto' | 'f16' | 'f32' {
  if (name === 'float16' || name === 'half') return 'f16';
  if (name === 'float32' || name === 'float') return 'f32';
  return 'auto';
}

export async function createEngine(config: ServeConfig, logger: EngineLogger): Promise<Engine> {
  // Read before the model loads: a wrong --chat-template fails at once.
  const chatTemplate = config.chatTemplate === null ? null : readChatTemplateOption(config.chatTemplate);
  const { path, isDemo } = await resolveModelPath(config);
  // Also before the model loads: a bad generation config or override fails at once.
  const gen = samplingDefaults(path, config.generationConfig, config.overrideGenerationConfig);
  if (Object.keys(gen.defaults).length > 0) {
    logger.info({ defaults: gen.defaults, source: gen.source ?? '--override-generation-config' }, 'requests\' unset sampling fields take the model\'s generation config (vLLM\'s default; --generation-config vllm ignores it)');
  }
  // Embeddings' pooling (--pooling, --pooler-config, else the model's): a bad flag fails before the load too.
  const pool = resolvePooling(config.pooling, parsePoolerConfig(config.poolerConfig), path, (p) => unwrap(native.ggufMetadata(p), `cannot read the metadata of ${p}`).metadata);
  if (pool.warning !== null) logger.warn({ pooling: pool.pooling }, pool.warning);
  logger.info({ pooling: pool.pooling, source: pool.source }, `/v1/embeddings pools the prompt's final hidden states: ${pool.pooling}`);
  // --hf-overrides (the server resolves its tokens with the tokenizer): a bad one fails before the load too.
  classifierSpec(parseHfOverrides(config.hfOverrides));
  const matryoshka = readMatryoshka(path);
  if (matryoshka !== null) logger.info({ dimensions: matryoshka === true ? 'any' : matryoshka }, 'a matryoshka model: /v1/embeddings serves fewer dimensions');
  // While it is served, `hipserve gc` must not evict the model (a no-op for
  // paths outside the hub cache).
  const unmark = markInUse(path);
  // A device reserves its activation scratch for the step budget before the
  // KV pool is sized from what is left.
  const maxBatchedTokens = config.maxNumBatchedTokens ?? DEFAULT_MAX_BATCHED_TOKENS;
  const result = await native.loadModel(path, { device: config.device, maxBatchedTokens, kvCacheDtype: nativeKvDtype(config.kvCacheDtype) });
  if (!result.ok) unmark();
  const loaded = unwrap(result, `cannot load the model at ${path}`);
  const info = loaded.info;
  logger.info(
    { model: path, architecture: info.architecture, dtype: info.dtype, backend: info.backend, layers: info.numLayers, weights: info.weights, kvCacheDtype: info.kvCacheDtype },
    'model loaded',
  );
  if (config.device === 'auto' && info.backend === 'cpu') {
    // The one line README promises: why `auto` did not pick a GPU.
    const listed = native.listBackends();
    const skipped = listed.ok ? listed.value.filter((b) => !b.available && b.name !== 'cpu').map((b) => `${b.name}: ${b.reason}`) : [];
    logger.info({ device: 'auto', backend: 'cpu', skipped }, `device auto: serving on the CPU${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}`);
  }
  try {
    return await finishStartup(config, logger, loaded, path, isDemo, unmark, chatTemplate, gen.defaults, { pooling: pool.pooling, matryoshka });
  } catch (err) {
    native.releaseModel(loaded.handle);
    unmark();
    throw err;
  }
}

async function finishStartup(
  config: ServeConfig,
  logger: EngineLogger,
  loaded: native.LoadedModel,
  path: string,
  isDemo: boolean,
  unmark: () => void,
  chatTemplate: ChatTemplateOverride | null,
  defaults: SamplingDefaults,
  embedding: Pick<EngineParts, 'pooling' | 'matryoshka'>,
): Promise<Engine> {
  const info = loaded.info;
  const tokenizer = await loadTokenizer(path, chatTemplate);
  const blockSize = config.blockSize;
  const bytesPerBlock = unwrap(native.kvBytesPerBlock(loaded.handle, blockSize), 'cannot size the KV cache');
  const device = info.deviceMemory;
  let budget = config.kvCacheMemory ?? defaultCpuKvBudget();
  if (device !== undefined && config.kvCacheMemory === null) {
    budget = deviceKvBudget(device, config.gpuMemoryUtilization);
    logger.info(
      { totalBytes: device.totalBytes, inUseBytes: device.totalBytes - device.freeBytes, weightBytes: device.weightBytes, scratchBytes: device.scratchBytes, kvBudgetBytes: budget },
      `KV budget: ${mib(device.totalBytes)} MiB device x --gpu-memory-utilization ${config.gpuMemoryUtilization} - ` +
        `${mib(device.totalBytes - device.freeBytes)} MiB in use (weights ${mib(device.weightBytes)}, scratch ${mib(device.scratchBytes)}) = ${mib(budget)} MiB`,
    );
    if (budget <= 0) {
      throw new StartupError(
        `no device memory left for the KV cache: ${mib(device.totalBytes)} MiB x --gpu-memory-utilization ${config.gpuMemoryUtilization} ` +
          `is less than the ${mib(device.totalBytes - device.freeBytes)} MiB already in use (weights ${mib(device.weightBytes)} MiB); ` +
          `raise --gpu-memory-utilization or give --kv-cache-memory`,
      );
    }
  }
  const sizing = sizeKvCache({
    budgetBytes: budget,
    bytesPerBlock,
    blockSize,
    maxModelLen: config.maxModelLen ?? info.maxPositionEmbeddings,
    // On a device, like vLLM: a budget that cannot hold one full-length
    // sequence is a start-up error, not a silently shorter --max-model-len.
    allowLowerMaxModelLen: device === undefined || config.kvCacheMemory !== null,
  });
  if (!sizing.ok) throw new StartupError(sizing.message);
  if (sizing.warning) logger.warn({}, sizing.warning);
  logger.info({ numBlocks: sizing.numBlocks, tokens: sizing.numTokens, maxConcurrency: sizing.maxConcurrency }, sizing.summary);
  return assembleEngine({
    loaded,
    tokenizer,
    numBlocks: sizing.numBlocks,
    blockSize,
    maxModelLen: sizing.maxModelLen,
    maxNumSeqs: config.maxNumSeqs,
    maxNumBatchedTokens: config.maxNumBatchedTokens ?? DEFAULT_MAX_BATCHED_TOKENS,
    numSchedulerSteps: config.numSchedulerSteps ?? 'auto',
    enablePrefixCaching: config.enablePrefixCaching,
    maxNumQueuedRequests: config.maxNumQueuedRequests,
    seed: config.seed,
    name: config.servedModelName[0] ?? (config.model === null ? 'hipserve-demo' : config.model),
    isDemo,
    samplingDefaults: defaults,
    ...embedding,
    logger,
    onRelease: unmark,
  });
}

/** vLLM's default step budget for online serving with chunked prefill. */
export const DEFAULT_MAX_BATCHED_TOKENS = 2048;

export interface EngineParts {
  loaded: native.LoadedModel;
  tokenizer: LoadedTokenizer;
  numBlocks: number;
  blockSize: number;
  maxModelLen: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  enablePrefixCaching: boolean;
  maxNumQueuedRequests: number;
  seed: number | null;
  name: string;
  isDemo: boolean;
  /** Embeddings' pooling when a request names none (ModelInfo.pooling); default 'last', vLLM's for a causal LM. */
  pooling?: PoolingType;
  /** Widths embeddings may be cut to (ModelInfo.matryoshka); null or absent: the full width only. */
  matryoshka?: true | readonly number[] | null;
  /** Request defaults from the model's generation config (ModelInfo.samplingDefaults). */
  samplingDefaults?: SamplingDefaults;
  logger: EngineLogger;
  /** Launch step N+1 before step N's text work (default false, see LlmEngineOptions). */
  overlapSteps?: boolean;
  /** Decode steps per native call (default 'auto', see LlmEngineOptions). */
  numSchedulerSteps?: number | 'auto';
  /**
   * Steps predicted to take at most this many ms run on the JS thread
   * (src/runner/forward-policy.ts); 0 = always on the worker thread, as
   * with overlapSteps. Default: HIPSERVE_SYNC_STEP_MS, else DEFAULT_SYNC_STEP_MS.
   */
  syncStepMs?: number;
  /** Runs after the native resources are freed on close(). */
  onRelease?: () => void;
}

/** Allocates the KV cache and wires scheduler, runner and engine (tests use it to pick exact pool sizes). */
export function assembleEngine(p: EngineParts): LlmEngine {
  const { loaded, tokenizer, blockSize } = p;
  const kv = unwrap(native.createKvCache(loaded.handle, { numBlocks: p.numBlocks, blockSize }), 'cannot allocate the KV cache');
  const scheduler = createScheduler({
    numBlocks: p.numBlocks,
    blockSize,
    maxNumBatchedTokens: p.maxNumBatchedTokens,
    maxNumSeqs: p.maxNumSeqs,
    enablePrefixCaching: p.enablePrefixCaching,
    policy: 'priority',
  });
  let budgetMs: number;
  try {
    budgetMs = p.syncStepMs ?? syncStepBudgetFromEnv();
  } catch (err) {
    native.releaseKvCache(kv.handle);
    throw new StartupError((err as Error).message);
  }
  // Overlapped steps run text work while the forward runs on its worker
  // thread; a step on the JS thread would leave nothing to overlap.
  if (p.overlapSteps === true) budgetMs = 0;
  const forward: ForwardFn = makeStepRunner(loaded.handle, kv.handle, { backend: loaded.info.backend, budgetMs });
  const runner = new ModelRunner(forward, blockSize);
  const info = loaded.info;
  const model: ModelInfo = {
    name: p.name,
    maxModelLen: p.maxModelLen,
    vocabSize: info.vocabSize,
    architecture: info.architecture,
    eosTokenIds: tokenizer.eosTokenIds.length > 0 ? tokenizer.eosTokenIds : info.eosTokenIds,
    isDemo: p.isDemo,
    hiddenSize: info.hiddenSize,
    pooling: p.pooling ?? 'last',
    ...(p.matryoshka != null ? { matryoshka: p.matryoshka } : {}),
    ...(p.samplingDefaults !== undefined && Object.keys(p.samplingDefaults).length > 0 ? { samplingDefaults: p.samplingDefaults } : {}),
  };
  return new LlmEngine(
    model,
    tokenizer,
    scheduler,
    runner,
    {
      maxNumQueuedRequests: p.maxNumQueuedRequests,
      seed: p.seed,
      overlapSteps: p.overlapSteps,
      numSchedulerSteps: p.numSchedulerSteps,
      release: () => {
        native.releaseKvCache(kv.handle);
        native.releaseModel(loaded.handle);
        p.onRelease?.();
      },
    },
    p.logger,
  );
}
