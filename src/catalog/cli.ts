// `hipserve pull|list|rm|gc|verify`: human output by default, `--json` for
// scripts; one-line errors on stderr; exit 1 when an operation fails, 2 when
// the command line is wrong. src/cli.ts dispatches here with argv starting at
// the subcommand, e.g. ['pull', 'Qwen/Qwen3-0.6B', '--revision', 'main'].

import { parseArgs } from 'node:util';
import { CatalogError, errorMessage, isCatalogError } from './errors.js';
import { gc, listModels, removeModel, verifyModel } from './manage.js';
import { createProgressReporter, lineReporter } from './progress.js';
import { pull } from './pull.js';
import { parseHubSpec } from './resolve.js';
import { formatBytes, parseSize } from './size.js';

export interface CatalogIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Progress bars allowed (stderr is a TTY). */
  tty: boolean;
}

const USAGE = `usage:
  hipserve pull MODEL [--revision R] [--json]    MODEL: org/name or org/repo:file.gguf
  hipserve list [--json]
  hipserve rm MODEL
  hipserve gc --max-size SIZE [--json]           SIZE: 50GB, 500MiB, ...
  hipserve verify MODEL [--json]`;

function usage(msg: string): CatalogError {
  return new CatalogError('HIPSERVE_ERR_CATALOG_USAGE', `${msg} (see \`hipserve <command> --help\`)`);
}

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean' }>, positionals: number): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usage(errorMessage(err));
  }
  if (parsed.positionals.length !== positionals) throw usage(`expected ${positionals} argument${positionals === 1 ? '' : 's'}, got ${parsed.positionals.length}`);
  return { values: parsed.values, positionals: parsed.positionals };
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

async function cmdPull(args: string[], io: CatalogIo): Promise<number> {
  const { values, positionals } = parse(args, { revision: { type: 'string' }, json: { type: 'boolean' } }, 1);
  const spec = parseHubSpec(positionals[0] ?? '');
  const reporter = io.tty && !values.json ? createProgressReporter() : lineReporter((l) => { io.err(l + '\n'); });
  try {
    const res = await pull(spec.repo, { revision: typeof values.revision === 'string' ? values.revision : undefined, gguf: spec.gguf, env: io.env, onProgress: reporter.listener });
    reporter.stop();
    if (values.json) io.out(JSON.stringify(res) + '\n');
    else io.out(`pulled ${res.repo}@${res.commit.slice(0, 12)} -> ${res.path} (${res.files.length} files, ${formatBytes(res.downloadedBytes)} downloaded)\n`);
    return 0;
  } finally {
    reporter.stop();
  }
}

async function cmdList(args: string[], io: CatalogIo): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' } }, 0);
  const models = await listModels(io.env);
  if (values.json) {
    io.out(JSON.stringify(models) + '\n');
    return 0;
  }
  if (models.length === 0) {
    io.out('no models in the cache\n');
    return 0;
  }
  const rows = [['NAME', 'REVISION', 'SIZE', 'LAST USED', 'TRUST']];
  for (const m of models) {
    const rev = `${m.revision ?? '-'}${m.commit ? ` (${m.commit.slice(0, 8)})` : ''}`;
    rows.push([m.repo, rev, formatBytes(m.size), ago(m.lastUsed), `${m.trust}${m.inUseBy.length > 0 ? ', in use' : ''}`]);
  }
  io.out(table(rows) + '\n');
  return 0;
}

async function cmdRm(args: string[], io: CatalogIo): Promise<number> {
  const { positionals } = parse(args, {}, 1);
  const res = await removeModel(parseHubSpec(positionals[0] ?? '').repo, io.env);
  io.out(`removed ${res.repo} (${formatBytes(res.reclaimedBytes)} reclaimed)\n`);
  return 0;
}

async function cmdGc(args: string[], io: CatalogIo): Promise<number> {
  const { values } = parse(args, { 'max-size': { type: 'string' }, json: { type: 'boolean' } }, 0);
  const raw = values['max-size'];
  if (typeof raw !== 'string') throw usage('gc needs --max-size');
  const max = parseSize(raw);
  if (max === null) throw usage(`--max-size ${raw}: not a size (try 50GB or 500MiB)`);
  const res = await gc(max, io.env);
  if (values.json) {
    io.out(JSON.stringify(res) + '\n');
    return 0;
  }
  for (const r of res.removed) io.out(`removed ${r.repo} (${formatBytes(r.size)})\n`);
  for (const s of res.skipped) io.out(`kept ${s}: in use\n`);
  io.out(`${res.removed.length} models removed, ${formatBytes(res.reclaimedBytes)} reclaimed; cache now ${formatBytes(res.remainingBytes)} (limit ${formatBytes(max)})\n`);
  return 0;
}

async function cmdVerify(args: string[], io: CatalogIo): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, 1);
  const res = await verifyModel(parseHubSpec(positionals[0] ?? '').repo, io.env);
  if (values.json) io.out(JSON.stringify(res) + '\n');
  else {
    for (const f of res.files) io.out(f.ok ? `ok   ${f.path}\n` : `BAD  ${f.path}: ${f.problem ?? ''}\n`);
    io.out(`${res.repo}@${res.commit.slice(0, 12)}: ${res.ok ? 'verified' : 'unverified (see above)'}\n`);
  }
  if (!res.ok) io.err(`${res.repo}: ${res.files.filter((f) => !f.ok).length} file(s) failed verification\n`);
  return res.ok ? 0 : 1;
}

const COMMANDS: Partial<Record<string, (args: string[], io: CatalogIo) => Promise<number>>> = {
  pull: cmdPull,
  list: cmdList,
  ls: cmdList,
  rm: cmdRm,
  gc: cmdGc,
  verify: cmdVerify,
};

/** The catalog CLI with its streams and environment passed in (tests use this). */
export async function runCatalog(argv: string[], io: CatalogIo): Promise<number> {
  const name = argv.length > 0 ? argv[0] : undefined;
  const rest = argv.slice(1);
  const cmd = name === undefined ? undefined : COMMANDS[name];
  // `hipserve pull --help` as well as `hipserve help`: the options live here.
  if (name === '--help' || name === '-h' || name === 'help' || rest.includes('--help') || rest.includes('-h')) {
    io.out(USAGE + '\n');
    return 0;
  }
  try {
    if (!cmd) throw usage(name === undefined ? 'missing command' : `unknown command ${name}`);
    return await cmd(rest, io);
  } catch (err) {
    const code = isCatalogError(err) ? err.exitCode : 1;
    const msg = errorMessage(err);
    io.err(`hipserve${name === undefined ? '' : ` ${name}`}: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
    return code;
  }
}

export async function catalogMain(argv: string[]): Promise<number> {
  return runCatalog(argv, {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
    tty: process.stderr.isTTY,
  });
}
