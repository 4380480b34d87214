// The demo model is generated once into $HIPSERVE_CACHE, marked as the demo
// in config.json, carries Qwen3's real tokenizer and chat template, and two
// processes asking at once both get a complete directory.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { demoModelDir, ensureDemoModel } from '../../src/models/demo.js';
import { loadTokenizer } from '../../src/models/tokenizer.js';

t.test('demo model: generated once, marked, real tokenizer', async (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'hs-demo-'));
  const saved = process.env.HIPSERVE_CACHE;
  process.env.HIPSERVE_CACHE = cache;
  t.teardown(() => {
    if (saved === undefined) delete process.env.HIPSERVE_CACHE;
    else process.env.HIPSERVE_CACHE = saved;
    rmSync(cache, { recursive: true, force: true });
  });
  const [a, b] = await Promise.all([ensureDemoModel(), ensureDemoModel()]);
  t.equal(a, demoModelDir());
  t.equal(b, a);
  t.ok(a.startsWith(cache), 'inside $HIPSERVE_CACHE');
  t.same(readdirSync(cache), [a.split('/').pop()], 'no temp directory left behind');
  const config = JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')) as Record<string, unknown>;
  t.equal(config.hipserve_demo, true);
  t.equal(config.model_type, 'qwen3');
  t.ok(existsSync(join(a, 'model.safetensors')));
  const tok = await loadTokenizer(a);
  t.same(tok.eosTokenIds, [151645, 151643]);
  t.match(tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }), /<\|im_start\|>assistant\n$/);
});
