// The `hipserve` command's usage paths (no engine is started here).

import t from 'tap';
import { main, type CliIo } from '../../src/cli.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (s) => { out += s; }, err: (s) => { err += s; }, env: {} };
  const code = await main(argv, io);
  return { code, out, err };
}

t.test('usage errors: one line, exit 2', async (t) => {
  const typo = await run(['serve', '--max-num-seq', '4']);
  t.equal(typo.code, 2);
  t.equal(typo.err, 'hipserve: unknown option --max-num-seq; did you mean --max-num-seqs?\n');
  const cmd = await run(['serv']);
  t.equal(cmd.code, 2);
  t.equal(cmd.err, 'hipserve: unknown command serv; did you mean serve?\n');
});

t.test('--help, --version, serve --help, config schema', async (t) => {
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /serve \[MODEL\]/);
  const version = await run(['--version']);
  t.match(version.out, /^hipserve \d+\.\d+\.\d+/);
  const serveHelp = await run(['serve', '--help']);
  t.equal(serveHelp.code, 0);
  t.match(serveHelp.out, /--max-num-seqs/);
  t.match(serveHelp.out, /HIPSERVE_MAX_NUM_SEQS/);
  const schema = await run(['config', 'schema']);
  t.equal(schema.code, 0);
  const parsed = JSON.parse(schema.out) as { properties: Record<string, unknown> };
  t.ok('max-num-seqs' in parsed.properties);
});
