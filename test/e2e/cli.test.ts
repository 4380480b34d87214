// `hipserve serve` for real, as a child process: a fixture model on port 0,
// one completion, SIGTERM during a long stream (the stream ends, exit 0),
// JSON log lines with request ids; a flag typo exits 2 with a suggestion, as
// do no arguments (the usage) and an unknown config subcommand;
// no --model serves the demo model and says its text is noise; the model's
// generation config (here an override) sets what requests leave unset; the
// embeddings' pooling is logged, and a bad --pooler-config is one line.

import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import { cleanEnv, cliCommand, startCli, type LogLine } from './cli-child.js';

const cache = mkdtempSync(join(tmpdir(), 'hipserve-e2e-cli-'));
t.teardown(() => { rmSync(cache, { recursive: true, force: true }); });
const env = cleanEnv({ HIPSERVE_CACHE: cache });
t.comment(`running ${cliCommand().how}`);

/** vLLM's ignore_eos (unknown to the openai typings; spread, it passes through). */
const noEos = { ignore_eos: true } as const;
const isListening = (l: LogLine): boolean => l.msg === 'listening' && typeof l.address === 'string';

t.test('serve a fixture model: a completion, SIGTERM during a long stream, exit 0, JSON logs', async (t) => {
  const model = await fixtureModel('qwen3', 'safetensors');
  const child = startCli(['serve', '--model', model, '--port', '0', '--log-level', 'info', '--kv-cache-memory', '32MiB', '--max-model-len', '2048', '--shutdown-timeout', '1'], env);
  t.teardown(() => { child.kill(); });
  const listening = await child.waitForLog(isListening);
  const address = String(listening.address);
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/, `binds 127.0.0.1 by default: ${address}`);
  t.equal(listening.model, model, 'served under the --model path');

  const client = new OpenAI({ baseURL: `${address}/v1`, apiKey: 'unused', maxRetries: 0 });
  const { data: r, response } = await client.completions
    .create({ model, prompt: 'Hello', max_tokens: 5, temperature: 0, ...noEos }, { headers: { 'x-request-id': 'e2e-cli-1' } })
    .withResponse();
  t.equal(r.usage?.completion_tokens, 5, 'one completion');
  t.equal(response.headers.get('x-request-id'), 'e2e-cli-1', 'x-request-id echoed');

  // A long stream; SIGTERM once it flows.
  let text = '';
  let ended = false;
  const streamDone = new Promise<void>((resolve) => {
    const req = request(new URL('/v1/completions', address), { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'e2e-cli-stream' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (!ended && text.includes('data: {')) {
          ended = true;
          child.proc.kill('SIGTERM');
        }
      });
      res.on('close', () => { resolve(); });
      res.on('error', () => { resolve(); });
    });
    req.on('error', () => { resolve(); });
    req.end(JSON.stringify({ model, prompt: 'A long story', max_tokens: 2000, ignore_eos: true, temperature: 0, stream: true }));
  });
  await streamDone;
  t.ok(ended, 'SIGTERM was sent while the stream ran');
  const events = text.split('\n\n').filter((e) => e !== '');
  t.equal(events.at(-1), 'data: [DONE]', 'the stream ends with [DONE]');
  const last = events.filter((e) => e.startsWith('data: {')).at(-1) ?? '';
  const reason = (JSON.parse(last.slice(6)) as { choices: { finish_reason: string | null }[] }).choices[0]?.finish_reason;
  t.ok(reason === 'abort' || reason === 'length', `the stream's last choice finished (${String(reason)})`);
  const exit = await child.exited;
  t.same(exit, { code: 0, signal: null }, 'exit code 0 after SIGTERM');

  const parsed: LogLine[] = [];
  for (const l of child.lines) {
    try {
      parsed.push(JSON.parse(l) as LogLine);
    } catch {
      t.fail(`a stdout line is not JSON: ${l}`);
    }
  }
  t.ok(parsed.length > 3, `${parsed.length} log lines`);
  t.ok(parsed.every((l) => typeof l.level === 'number' && typeof l.msg === 'string' && typeof l.time === 'string'), 'pino lines with level, time and msg');
  const requestLines = parsed.filter((l) => l.req !== undefined || l.res !== undefined);
  t.ok(requestLines.length >= 4, `request lines logged (${requestLines.length})`);
  t.ok(requestLines.every((l) => typeof l.reqId === 'string' && l.reqId !== ''), 'every request line carries a reqId');
  t.ok(requestLines.some((l) => l.reqId === 'e2e-cli-1'), 'the caller\'s x-request-id is the reqId');
  t.ok(parsed.some((l) => l.msg === 'signal received' && l.signal === 'SIGTERM'), 'SIGTERM logged');
  t.ok(parsed.some((l) => typeof l.msg === 'string' && /shut down/.test(l.msg)), 'shutdown logged');
  t.equal(child.stderr(), '', 'nothing on stderr');
});

t.test('a flag typo exits 2 with "did you mean"', async (t) => {
  const child = startCli(['serve', '--max-num-seq', '4'], env);
  t.teardown(() => { child.kill(); });
  const exit = await child.exited;
  t.equal(exit.code, 2);
  t.match(child.stderr(), /unknown option --max-num-seq; did you mean --max-num-seqs\?/);
  t.same(child.lines, [], 'nothing on stdout');
});

t.test('no arguments: the usage on stdout, exit 2', async (t) => {
  const child = startCli([], env);
  t.teardown(() => { child.kill(); });
  const closed = once(child.proc, 'close'); // after 'exit', once stdout is read to its end
  const exit = await child.exited;
  await closed;
  t.same(exit, { code: 2, signal: null }, 'exit 2');
  t.equal(child.lines[0], 'Usage: hipserve <command> [options]', 'the usage, from its first line');
  t.ok(child.lines.some((l) => /^\s+serve \[MODEL\]/.test(l)), 'listing the commands');
  t.equal(child.stderr(), '', 'nothing on stderr');
});

t.test('an unknown config subcommand: one line on stderr, exit 2', async (t) => {
  const child = startCli(['config', 'shema'], env);
  t.teardown(() => { child.kill(); });
  const closed = once(child.proc, 'close');
  const exit = await child.exited;
  await closed;
  t.same(exit, { code: 2, signal: null }, 'a usage error: exit 2');
  t.equal(child.stderr(), 'hipserve: unknown config command shema; try `hipserve config schema`\n', 'one line naming it and the right command');
  t.same(child.lines, [], 'nothing on stdout');
});

/** `hipserve serve` with `flags` fails to start: exactly `line` on stderr, and no model was loaded. */
async function failsToStart(t: Test, flags: string[], line: string, what: string): Promise<void> {
  const child = startCli(['serve', '--port', '0', '--log-level', 'info', ...flags], env);
  t.teardown(() => { child.kill(); });
  const closed = once(child.proc, 'close');
  const exit = await child.exited;
  await closed;
  t.not(exit.code, 0, `a failed start (exit ${String(exit.code)})`);
  t.equal(child.stderr(), line, what);
  t.notOk(child.lines.some((l) => l.includes('model loaded')), 'no model was loaded');
}

t.test('a --chat-template that is neither a file nor a template: one line, before the model loads', async (t) => {
  await failsToStart(t, ['--chat-template', 'no-such-template.jinja'], 'hipserve: --chat-template "no-such-template.jinja": no such file, and not a Jinja template (no {{ or {%)\n', 'one line naming the option and the value');
});

t.test('no --model: the demo model is served, and the log says its text is noise', async (t) => {
  const child = startCli(['serve', '--port', '0', '--log-level', 'info', '--kv-cache-memory', '32MiB', '--max-model-len', '512'], env);
  t.teardown(() => { child.kill(); });
  const listening = await child.waitForLog(isListening);
  const noise = await child.waitForLog((l) => typeof l.msg === 'string' && /noise/.test(l.msg));
  t.match(noise.msg, /demo model/, `warned: ${String(noise.msg)}`);
  t.equal(listening.model, 'hipserve-demo');
  const address = String(listening.address);
  const client = new OpenAI({ baseURL: `${address}/v1`, apiKey: 'unused', maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'hipserve-demo', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 4, temperature: 0, ...noEos });
  t.equal(r.usage?.completion_tokens, 4, 'the demo model generates');
  t.equal((await fetch(`${address}/health`)).status, 200);
  const pooled = await child.waitForLog((l) => l.pooling !== undefined);
  t.match(pooled, { pooling: 'last', source: /^default/ }, 'the embeddings\' pooling is logged at start');
  const e = await client.embeddings.create({ model: 'hipserve-demo', input: ['hi', 'there'] });
  t.ok(e.data.length === 2 && e.data[0].embedding.length > 0, 'embeddings are served');
  child.proc.kill('SIGTERM');
  t.same(await child.exited, { code: 0, signal: null }, 'exit 0');
});

t.test('a model whose config.json says is_matryoshka serves fewer dimensions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hipserve-mrl-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  cpSync(await fixtureModel('qwen3', 'safetensors'), dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, matryoshka_dimensions: [16, 32] }));
  const child = startCli(['serve', '--port', '0', '--log-level', 'info', '--model', dir, '--served-model-name', 'mrl', '--kv-cache-memory', '16MiB', '--max-model-len', '256'], env);
  t.teardown(() => { child.kill(); });
  const listening = await child.waitForLog(isListening);
  const said = await child.waitForLog((l) => l.dimensions !== undefined);
  t.same(said.dimensions, [16, 32], 'the widths are logged at start');
  const client = new OpenAI({ baseURL: `${String(listening.address)}/v1`, apiKey: 'unused', maxRetries: 0 });
  const e = await client.embeddings.create({ model: 'mrl', input: 'hi', dimensions: 16 });
  t.equal(e.data[0].embedding.length, 16, 'a listed width is served');
  t.ok(Math.abs(Math.hypot(...e.data[0].embedding) - 1) < 1e-5, 'and normalized after the cut');
  const refused = await client.embeddings.create({ model: 'mrl', input: 'hi', dimensions: 8 }).then(() => null, (err: unknown) => err);
  t.ok(refused instanceof OpenAI.APIError && refused.status === 400, 'another width is a 400');
  child.proc.kill('SIGTERM');
  t.same(await child.exited, { code: 0, signal: null }, 'exit 0');
});

t.test('--override-generation-config: unset request fields take it; a bad one is one line before the model loads', async (t) => {
  await failsToStart(t, ['--override-generation-config', '{"temperature": -1}'], 'hipserve: --override-generation-config: temperature must be a number in [0, 100], got -1\n', 'one line naming the flag and the key');
  await failsToStart(t, ['--pooler-config', '{"pooling_type": "MAX"}'], 'hipserve: --pooler-config: pooling_type must be one of LAST, MEAN, CLS, got "MAX"\n', '--pooler-config too');

  const child = startCli(['serve', '--port', '0', '--log-level', 'info', '--kv-cache-memory', '32MiB', '--max-model-len', '512', '--override-generation-config', '{"temperature": 0, "max_new_tokens": 3}'], env);
  t.teardown(() => { child.kill(); });
  const listening = await child.waitForLog(isListening);
  const said = await child.waitForLog((l) => typeof l.msg === 'string' && /generation config/.test(l.msg));
  t.same(said.defaults, { temperature: 0, maxTokens: 3 }, 'logged at start');
  const client = new OpenAI({ baseURL: `${String(listening.address)}/v1`, apiKey: 'unused', maxRetries: 0 });
  const ask = () => client.chat.completions.create({ model: 'hipserve-demo', messages: [{ role: 'user', content: 'hi' }], ...noEos });
  const [a, b] = [await ask(), await ask()];
  t.equal(a.usage?.completion_tokens, 3, 'max_new_tokens: chat\'s max_tokens when none is given');
  t.same(a.choices[0].message, b.choices[0].message, 'temperature 0: the same message twice (thoughts and text)');
  child.proc.kill('SIGTERM');
  t.same(await child.exited, { code: 0, signal: null }, 'exit 0');
});
