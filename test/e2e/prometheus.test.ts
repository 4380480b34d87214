// A real Prometheus server (Debian's prometheus package, the same one that
// brings promtool) scrapes the live server's /metrics: the target is up with
// no scrape error, and PromQL reads vLLM's names back, colons included,
// with the values the server counted. Prometheus listens on 127.0.0.1 and
// scrapes only the test's server; the test stops both.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startLive } from './helpers.js';

/** A port nothing listens on right now (Prometheus takes a fixed one). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => { resolve(port); });
    });
  });
}

interface Vector {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

t.test('Prometheus scrapes /metrics and reads the counters back', async (t) => {
  const live = await startLive({ arch: 'qwen3' });
  t.teardown(() => live.close());
  for (let i = 0; i < 3; i++) await live.client.completions.create({ model: live.model, prompt: 'count me', max_tokens: 4 });

  const dir = mkdtempSync(join(tmpdir(), 'hipserve-prom-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const target = new URL(live.url).host;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    ['global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: hipserve', '    static_configs:', `      - targets: ['${target}']`, ''].join('\n'),
  );
  const port = await freePort();
  let prom: ChildProcess;
  try {
    prom = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=error'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (err) {
    t.fail(`prometheus cannot be started: ${String(err)}`);
    return;
  }
  let stderr = '';
  prom.stderr?.on('data', (b: Buffer) => { stderr += b.toString(); });
  // Set from a callback: a holder, so the checks below are not narrowed away.
  const failed: { err: Error | null } = { err: null };
  // A binary that is not there gives 'error' and no 'exit'.
  const exited = new Promise<void>((resolve) => {
    prom.on('exit', () => { resolve(); });
    prom.on('error', (err) => {
      failed.err = err;
      resolve();
    });
  });
  t.teardown(async () => {
    prom.kill('SIGTERM');
    await exited;
  });

  const query = async (q: string): Promise<Vector | null> => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
      return res.ok ? ((await res.json()) as Vector) : null;
    } catch {
      return null; // not listening yet
    }
  };
  // Up to a minute: Prometheus starts, then scrapes every second.
  let success: Vector | null = null;
  for (let i = 0; i < 600 && failed.err === null; i++) {
    success = await query('vllm:request_success_total');
    if (success !== null && success.data.result.length > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (failed.err !== null) {
    t.fail(`prometheus not found: install Debian's prometheus package (apt-get install -y prometheus): ${String(failed.err)}`);
    return;
  }
  t.ok(success !== null && success.data.result.length > 0, `Prometheus has scraped a vLLM counter (stderr: ${stderr.slice(0, 300)})`);
  const total = (success?.data.result ?? []).reduce((a, r) => a + Number(r.value[1]), 0);
  t.equal(total, 3, 'vllm:request_success_total summed over finish reasons: the three requests');
  t.ok((success?.data.result ?? []).every((r) => r.metric.job === 'hipserve' && r.metric.model_name === live.model), 'with the job and model_name labels');

  const up = await query('up{job="hipserve"}');
  t.equal(up?.data.result[0]?.value[1], '1', 'the target is up');
  const targets = (await (await fetch(`http://127.0.0.1:${port}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
  t.same(targets.data.activeTargets.map((a) => [a.health, a.lastError]), [['up', '']], 'no scrape error');
  const hist = await query('sum(vllm:e2e_request_latency_seconds_count)');
  t.equal(hist?.data.result[0]?.value[1], '3', 'a histogram: its _count series');
  const tokens = await query('sum(vllm:generation_tokens_total)');
  t.equal(tokens?.data.result[0]?.value[1], '12', 'generation tokens: 3 x 4');
});
