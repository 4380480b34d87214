// Manual interop check with the real huggingface_hub (not run by tap: needs
// Python). Starts the mock hub, pulls one repo with hipserve into HF_HOME/hub
// and prints the env for a Python script to read it and to download another.
//   node --import tsx test/catalog/interop-manual.ts <HF_HOME>
import { pull } from '../../src/catalog/pull.js';
import { startMockHub } from './mock-hub.js';
import { safetensorsRepo } from './helpers.js';

const home = process.argv[2] ?? '/tmp/interop';
const hub = await startMockHub({ cdnHost: 'localhost' });
hub.addRepo(safetensorsRepo('acme/ours', 50_000));
hub.addRepo(safetensorsRepo('acme/theirs', 50_000, 7));
const env = { ...process.env, HF_HOME: home, HF_ENDPOINT: hub.url };
const res = await pull('acme/ours', { env });
process.stdout.write(JSON.stringify({ endpoint: hub.url, snapshot: res.snapshotDir, commit: res.commit }) + '\n');
// Keep serving until SIGTERM, so Python can download acme/theirs from the mock.
process.on('SIGTERM', () => { void hub.close(); });
