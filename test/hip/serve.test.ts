// `hipserve serve --device hip-emu` for real, as a child process: the KV pool
// sized from --gpu-memory-utilization of the emulated device's memory
// (HIPSERVE_EMU_MEMORY) minus what the weights and scratch already use, and
// greedy completions over HTTP identical to `--device cpu`, and so are embeddings. A utilization
// that leaves nothing for the KV cache stops start-up with a clear error.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import { cleanEnv, startCli, type Child, type LogLine } from '../e2e/cli-child.js';

const cache = mkdtempSync(join(tmpdir(), 'hipserve-hip-serve-'));
t.teardown(() => {
  rmSync(cache, { recursive: true, force: true });
});
const MIB = 1024 ** 2;
const EMU_MEMORY = 256 * MIB;
const env = cleanEnv({ HIPSERVE_CACHE: cache, HIPSERVE_EMU_MEMORY: '256MiB' });
const isListening = (l: LogLine): boolean => l.msg === 'listening' && typeof l.address === 'string';
const noEos = { ignore_eos: true } as const;

function serve(t: Test, model: string, extra: string[]): Child {
  const child = startCli(['serve', '--model', model, '--port', '0', '--log-level', 'info', '--max-model-len', '512', '--shutdown-timeout', '1', ...extra], env);
  t.teardown(() => {
    child.kill();
  });
  return child;
}

t.test('serve --device hip-emu: KV from --gpu-memory-utilization, completions equal --device cpu', async (t) => {
  const model = await fixtureModel('qwen3', 'safetensors');
  const emu = serve(t, model, ['--device', 'hip-emu', '--gpu-memory-utilization', '0.5']);
  // The HIP kernels read an f32 KV cache: the CPU side keeps one too, so both compute the same thing.
  const cpu = serve(t, model, ['--device', 'cpu', '--kv-cache-memory', '16MiB', '--kv-cache-dtype', 'float32']);
  const budget = await emu.waitForLog((l) => typeof l.kvBudgetBytes === 'number');
  const total = Number(budget.totalBytes);
  const inUse = Number(budget.inUseBytes);
  t.equal(total, EMU_MEMORY, 'the emulated device has HIPSERVE_EMU_MEMORY bytes');
  t.ok(Number(budget.weightBytes) > 0 && inUse >= Number(budget.weightBytes) + Number(budget.scratchBytes), 'weights and scratch count as in use');
  t.equal(budget.kvBudgetBytes, Math.floor(total * 0.5) - inUse, 'budget = total x utilization - in use');
  const sized = await emu.waitForLog((l) => typeof l.numBlocks === 'number');
  t.ok(Number(sized.numBlocks) > 1, `${String(sized.numBlocks)} KV blocks`);
  const loaded = await emu.waitForLog((l) => l.msg === 'model loaded');
  t.equal(loaded.backend, 'hip-emu', 'the model runs on hip-emu');

  const client = async (c: Child): Promise<OpenAI> =>
    new OpenAI({ baseURL: `${String((await c.waitForLog(isListening)).address)}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
  const emuClient = await client(emu);
  const cpuClient = await client(cpu);
  for (const prompt of ['The quick brown fox', 'Once upon a time']) {
    const ask = (c: OpenAI) => c.completions.create({ model, prompt, max_tokens: 8, temperature: 0, logprobs: 1, ...noEos });
    const [a, b] = await Promise.all([ask(emuClient), ask(cpuClient)]);
    t.equal(a.choices[0]?.text, b.choices[0]?.text, `"${prompt}": the same greedy text`);
    t.same(a.choices[0]?.logprobs?.tokens, b.choices[0]?.logprobs?.tokens, `"${prompt}": the same tokens`);
    t.equal(a.usage?.completion_tokens, 8);
  }
  // Embeddings: the device returns the final-normed rows the CPU does.
  const embed = (c: OpenAI) => c.embeddings.create({ model, input: ['The quick brown fox', 'Once upon a time'], encoding_format: 'float' });
  const [ea, eb] = await Promise.all([embed(emuClient), embed(cpuClient)]);
  for (const i of [0, 1]) {
    const x = ea.data[i].embedding;
    const y = eb.data[i].embedding;
    const worst = x.reduce((m, v, d) => Math.max(m, Math.abs(v - y[d])), x.length === y.length ? 0 : Infinity);
    t.ok(worst < 1e-4, `embedding ${i}: hip-emu equals the CPU (worst ${worst.toExponential(2)})`);
  }
  emu.proc.kill('SIGTERM');
  cpu.proc.kill('SIGTERM');
  t.same(await emu.exited, { code: 0, signal: null }, 'hip-emu server exits 0 on SIGTERM');
  await cpu.exited;
});

t.test('a --gpu-memory-utilization below what the weights use is a start-up error', async (t) => {
  const model = await fixtureModel('qwen3', 'safetensors');
  const child = serve(t, model, ['--device', 'hip-emu', '--gpu-memory-utilization', '0.05']);
  const exit = await child.exited;
  t.not(exit.code, 0, 'start-up fails');
  const out = child.lines.join('\n') + child.stderr();
  t.match(out, /no device memory left for the KV cache/, 'says why');
  t.match(out, /raise --gpu-memory-utilization or give --kv-cache-memory/, 'and what to do');
});
