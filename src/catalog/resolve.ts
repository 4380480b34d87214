// `--model` as vLLM takes it: a local directory, a local .gguf file, a hub id
// `org/name`, or `org/repo:file.gguf` (one file of a GGUF repo). Hub models
// come from the cache when there (no network), else are pulled unless
// offline. The server marks what it serves with markInUse so gc leaves it.

import { stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { homedir } from 'node:os';
import { CatalogError, errorMessage } from './errors.js';
import { isOfflineEnv } from './hub-api.js';
import { readIndex, touchLastUsed } from './index-store.js';

export { isOfflineEnv };
import { cacheRoot, repoPaths, validateRepoFilename, validateRepoId, validateRevision } from './paths.js';
import { lineReporter, type ProgressListener } from './progress.js';
import { pull } from './pull.js';
import { foreignSnapshotServable, readRef, resolveSnapshotFile } from './snapshot.js';

export { markInUse } from './in-use.js';
export type { PullEvent, ProgressListener } from './progress.js';

export interface ResolveOptions {
  offline: boolean;
  revision?: string;
  /** Pull progress; by default plain lines on stderr. */
  onProgress?: ProgressListener;
  env?: NodeJS.ProcessEnv;
}

export interface HubSpec {
  repo: string;
  gguf: string | undefined;
}

function looksLikePath(spec: string): boolean {
  return spec.startsWith('/') || spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('~') || spec === '.' || spec === '..' || spec.includes('\\');
}

/** Split and validate `org/name` or `org/repo:file.gguf`. */
export function parseHubSpec(spec: string): HubSpec {
  const colon = spec.indexOf(':');
  const repo = colon < 0 ? spec : spec.slice(0, colon);
  const gguf = colon < 0 ? undefined : spec.slice(colon + 1);
  validateRepoId(repo);
  if (gguf !== undefined) {
    try {
      validateRepoFilename(gguf);
    } catch (err) {
      // Typed by the user, so a usage error (exit 2), unlike a bad name sent by the hub.
      throw new CatalogError('HIPSERVE_ERR_CATALOG_USAGE', errorMessage(err));
    }
    if (!gguf.toLowerCase().endsWith('.gguf')) throw new CatalogError('HIPSERVE_ERR_CATALOG_USAGE', `${spec}: only a .gguf file can be named after ":"`);
  }
  return { repo, gguf };
}

/** The cached path for a hub spec, or null when it is not (completely) there. */
export async function findCached(spec: HubSpec, revision: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  const root = cacheRoot(env);
  const rp = repoPaths(root, spec.repo);
  const commit = await readRef(rp, revision);
  if (!commit) return null;
  const snap = join(rp.snapshots, commit);
  if (spec.gguf !== undefined) {
    return (await resolveSnapshotFile(root, snap, spec.gguf)) ? join(snap, spec.gguf) : null;
  }
  const entry = (await readIndex(root))[spec.repo];
  if (entry?.commit === commit && entry.files.length > 0) {
    for (const f of entry.files) if (!(await resolveSnapshotFile(root, snap, f.path))) return null;
    return snap;
  }
  return (await foreignSnapshotServable(root, snap)) ? snap : null;
}

export async function resolveModel(spec: string, opts: ResolveOptions): Promise<string> {
  const env = opts.env ?? process.env;
  const local = spec.startsWith('~/') ? join(homedir(), spec.slice(2)) : spec;
  const st = await stat(local).catch(() => null);
  if (st) return resolvePath(local);
  if (looksLikePath(spec)) throw new CatalogError('HIPSERVE_ERR_CATALOG_NOT_FOUND', `no such file or directory: ${spec}`);

  const hub = parseHubSpec(spec);
  const revision = opts.revision ?? 'main';
  validateRevision(revision);
  const cached = await findCached(hub, revision, env);
  if (cached) {
    await touchLastUsed(cacheRoot(env), hub.repo).catch(() => undefined);
    return cached;
  }
  if (opts.offline || isOfflineEnv(env)) {
    throw new CatalogError('HIPSERVE_ERR_CATALOG_NOT_CACHED', `${spec} (revision ${revision}) is not in the cache at ${cacheRoot(env)} and offline mode is on (--offline or HF_HUB_OFFLINE); run \`hipserve pull ${hub.repo}${revision === 'main' ? '' : ` --revision ${revision}`}\` first`);
  }
  const res = await pull(hub.repo, { revision, gguf: hub.gguf, env, onProgress: opts.onProgress ?? lineReporter().listener });
  return res.path;
}
