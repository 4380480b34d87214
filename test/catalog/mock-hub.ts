// A local stand-in for the Hugging Face Hub, faithful to what a pull touches:
//   GET  /api/models/:org/:name/revision/:rev?blobs=true  { id, sha, siblings[{rfilename,size,blobId,lfs}] }
//   GET  /api/models/:org/:name/tree/:rev                  [{ type, path, size, oid, lfs }]
//   HEAD|GET /:org/:name/resolve/:rev/*                     X-Repo-Commit; small files: ETag (git sha1)
//        and the bytes; LFS files: X-Linked-Etag (sha256), X-Linked-Size, 302 to the CDN
//   GET  <cdn>/blob/:sha256                                 the LFS bytes (a second server = other origin)
// Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound,
// GatedRepo) like the hub. Byte routes honour Range and can be made to
// misbehave per file with a queue of faults; every byte served is counted.

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export interface MockFileSpec {
  path: string;
  data: Buffer;
  lfs?: boolean;
}

export interface MockRepoSpec {
  id: string;
  commit?: string;
  /** Branch/tag -> commit; `main` -> commit by default. */
  refs?: Record<string, string>;
  files: MockFileSpec[];
  gated?: boolean;
  acceptedTokens?: string[];
  /** Extra raw siblings to inject (e.g. hostile file names). */
  extraSiblings?: Record<string, unknown>[];
}

export type Fault =
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'corrupt' }
  | { kind: 'trickle'; chunkBytes: number; delayMs: number }
  | { kind: 'ignore-range' }
  /** Send `afterBytes`, then the rest once `until` resolves (lets a test line up other processes). */
  | { kind: 'hold'; afterBytes: number; until: Promise<void> };

interface MockFile extends MockFileSpec {
  sha256: string;
  blobId: string;
}

export interface ServedRequest {
  method: string;
  url: string;
  range: string | undefined;
  authorization: string | undefined;
  origin: 'hub' | 'cdn';
}

export interface MockHub {
  url: string;
  cdnUrl: string;
  addRepo(spec: MockRepoSpec): { commit: string; files: MockFile[] };
  /** Queue faults for the next requests of one file (`api` = the revision listing). */
  fault(repo: string, path: string, ...faults: Fault[]): void;
  /** Bytes of file content served per `repo/path`. */
  bytesServed(repo: string, path: string): number;
  /** Byte-route GETs per `repo/path` that reached the content. */
  gets(repo: string, path: string): number;
  requests: ServedRequest[];
  resetCounters(): void;
  close(): Promise<void>;
}

export function gitBlobSha1(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes, so tests can build realistic shards cheaply. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export interface MockHubOptions {
  /**
   * Host name the LFS redirect points at. huggingface_hub follows redirects to
   * the same host name (any port), so a real-client check uses `localhost`
   * here to make the CDN a different host, as cdn-lfs.hf.co is.
   */
  cdnHost?: string;
}

export async function startMockHub(opts: MockHubOptions = {}): Promise<MockHub> {
  const repos = new Map<string, { spec: MockRepoSpec; commit: string; files: MockFile[] }>();
  const faults = new Map<string, Fault[]>();
  const served = new Map<string, number>();
  const getCount = new Map<string, number>();
  const requests: ServedRequest[] = [];
  const bySha = new Map<string, { repo: string; file: MockFile }>();
  const hub: FastifyInstance = Fastify({ logger: false, exposeHeadRoutes: false });
  const cdn: FastifyInstance = Fastify({ logger: false });
  let cdnUrl = '';

  const record = (origin: 'hub' | 'cdn') => (req: FastifyRequest, _r: FastifyReply, done: () => void): void => {
    requests.push({ method: req.method, url: req.url, range: req.headers.range, authorization: req.headers.authorization, origin });
    done();
  };
  hub.addHook('onRequest', record('hub'));
  cdn.addHook('onRequest', record('cdn'));

  const nextFault = (key: string): Fault | undefined => faults.get(key)?.shift();

  /** Gate checks in hub order: unknown repo, then gated access. Returns true when it answered. */
  const denied = (req: FastifyRequest, reply: FastifyReply, repoId: string): boolean => {
    const repo = repos.get(repoId);
    const auth = req.headers.authorization;
    if (!repo) {
      void reply.code(auth ? 404 : 401).header('x-error-code', 'RepoNotFound').header('x-error-message', 'Repository not found').send({ error: 'Repository not found' });
      return true;
    }
    if (repo.spec.gated) {
      const token = auth?.replace(/^Bearer /, '');
      if (!token) {
        void reply.code(401).header('x-error-code', 'GatedRepo').header('x-error-message', 'Access to this model is restricted. You must be authenticated.').send({ error: 'gated' });
        return true;
      }
      if (!(repo.spec.acceptedTokens ?? []).includes(token)) {
        void reply.code(403).header('x-error-code', 'GatedRepo').header('x-error-message', 'Please accept the terms to access this model.').send({ error: 'gated' });
        return true;
      }
    }
    return false;
  };

  const commitOf = (repoId: string, rev: string): string | undefined => {
    const r = repos.get(repoId);
    if (!r) return undefined;
    const refs: Record<string, string> = { main: r.commit, ...(r.spec.refs ?? {}) };
    if (Object.values(refs).includes(rev)) return rev;
    return refs[rev];
  };

  /** Serve `file` honouring Range and the next queued fault, on the raw response. */
  const sendBytes = (req: FastifyRequest, reply: FastifyReply, repoId: string, file: MockFile, extra: Record<string, string>): void => {
    const key = `${repoId}/${file.path}`;
    const fault = nextFault(key);
    if (fault?.kind === 'status') {
      const h: Record<string, string> = { ...extra };
      if (fault.retryAfter !== undefined) h['retry-after'] = fault.retryAfter;
      void reply.code(fault.status).headers(h).send({ error: `injected ${fault.status}` });
      return;
    }
    getCount.set(key, (getCount.get(key) ?? 0) + 1);
    let body = file.data;
    if (fault?.kind === 'corrupt') {
      body = Buffer.from(file.data);
      body[body.length >> 1] = (body[body.length >> 1] ?? 0) ^ 0xff;
    }
    const size = body.length;
    let start = 0;
    let status = 200;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m && fault?.kind !== 'ignore-range') {
      start = Number(m[1]);
      if (start >= size && size > 0) {
        void reply.code(416).header('content-range', `bytes */${size}`).send();
        return;
      }
      status = 206;
    }
    const end = m?.[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    const slice = body.subarray(start, end + 1);
    reply.hijack();
    const res: ServerResponse = reply.raw;
    const headers: Record<string, string> = { ...extra, 'content-type': 'application/octet-stream', 'content-length': String(slice.length), 'accept-ranges': 'bytes' };
    if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    const count = (n: number): void => { served.set(key, (served.get(key) ?? 0) + n); };
    if (fault?.kind === 'cut') {
      const part = slice.subarray(0, fault.afterBytes);
      count(part.length);
      res.write(part, () => { res.socket?.destroy(); });
      return;
    }
    if (fault?.kind === 'hold') {
      const head = slice.subarray(0, fault.afterBytes);
      count(head.length);
      res.write(head);
      void fault.until.then(() => {
        if (res.destroyed) return;
        const tail = slice.subarray(fault.afterBytes);
        count(tail.length);
        res.end(tail);
      });
      return;
    }
    if (fault?.kind === 'trickle') {
      let off = 0;
      const tick = (): void => {
        if (res.destroyed || res.socket?.destroyed) return;
        const piece = slice.subarray(off, off + fault.chunkBytes);
        off += piece.length;
        count(piece.length);
        if (off >= slice.length) {
          res.end(piece);
          return;
        }
        res.write(piece);
        setTimeout(tick, fault.delayMs);
      };
      tick();
      return;
    }
    count(slice.length);
    res.end(slice);
  };

  const repoParam = (req: FastifyRequest): string => {
    const p = req.params as { org: string; name: string };
    return `${p.org}/${p.name}`;
  };

  hub.get('/api/models/:org/:name/revision/:rev', async (req, reply) => {
    const repoId = repoParam(req);
    const f = nextFault(`${repoId}/api`);
    if (f?.kind === 'status') {
      if (f.retryAfter !== undefined) void reply.header('retry-after', f.retryAfter);
      return reply.code(f.status).send({ error: 'injected' });
    }
    if (denied(req, reply, repoId)) return reply;
    const rev = (req.params as { rev: string }).rev;
    const commit = commitOf(repoId, rev);
    const r = repos.get(repoId);
    if (!commit || !r) return reply.code(404).header('x-error-code', 'RevisionNotFound').send({ error: `Invalid rev id: ${rev}` });
    const siblings: Record<string, unknown>[] = r.files.map((x) => ({
      rfilename: x.path,
      size: x.data.length,
      blobId: x.lfs ? gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${x.sha256}\nsize ${x.data.length}\n`)) : x.blobId,
      ...(x.lfs ? { lfs: { sha256: x.sha256, size: x.data.length, pointerSize: 134 } } : {}),
    }));
    return { _id: 'x', id: repoId, modelId: repoId, sha: commit, private: false, gated: r.spec.gated ? 'manual' : false, siblings: [...siblings, ...(r.spec.extraSiblings ?? [])] };
  });

  hub.get('/api/models/:org/:name/tree/:rev', async (req, reply) => {
    const repoId = repoParam(req);
    if (denied(req, reply, repoId)) return reply;
    const r = repos.get(repoId);
    if (!r || !commitOf(repoId, (req.params as { rev: string }).rev)) return reply.code(404).header('x-error-code', 'RevisionNotFound').send({});
    return r.files.map((x) => ({ type: 'file', path: x.path, size: x.data.length, oid: x.blobId, ...(x.lfs ? { lfs: { oid: x.sha256, size: x.data.length, pointerSize: 134 } } : {}) }));
  });

  const resolveRoute = (req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const repoId = repoParam(req);
    if (denied(req, reply, repoId)) return reply;
    const p = req.params as { rev: string; '*': string };
    const commit = commitOf(repoId, decodeURIComponent(p.rev));
    if (!commit) return reply.code(404).header('x-error-code', 'RevisionNotFound').send({});
    const file = repos.get(repoId)?.files.find((x) => x.path === p['*']);
    if (!file) return reply.code(404).header('x-error-code', 'EntryNotFound').send({});
    if (file.lfs) {
      return reply.code(302).headers({
        'x-repo-commit': commit,
        'x-linked-etag': `"${file.sha256}"`,
        'x-linked-size': String(file.data.length),
        etag: `"${file.blobId}"`,
        location: `${cdnUrl}/blob/${file.sha256}`,
      }).send();
    }
    const extra = { 'x-repo-commit': commit, etag: `"${file.blobId}"` };
    if (req.method === 'HEAD') return reply.code(200).headers({ ...extra, 'content-length': String(file.data.length) }).send();
    sendBytes(req, reply, repoId, file, extra);
    return undefined;
  };
  hub.get('/:org/:name/resolve/:rev/*', async (req, reply) => resolveRoute(req, reply));
  hub.head('/:org/:name/resolve/:rev/*', async (req, reply) => resolveRoute(req, reply));

  cdn.get('/blob/:sha', async (req, reply) => {
    const hit = bySha.get((req.params as { sha: string }).sha);
    if (!hit) return reply.code(404).send();
    sendBytes(req, reply, hit.repo, hit.file, { etag: `"cdn-${hit.file.sha256.slice(0, 8)}"` });
    return undefined;
  });

  const url = await hub.listen({ host: '127.0.0.1', port: 0 });
  cdnUrl = await cdn.listen({ host: '127.0.0.1', port: 0 });
  if (opts.cdnHost !== undefined) cdnUrl = cdnUrl.replace('127.0.0.1', opts.cdnHost);

  return {
    url,
    cdnUrl,
    addRepo(spec) {
      const commit = spec.commit ?? createHash('sha1').update(`commit:${spec.id}:${String(spec.files.length)}`).digest('hex');
      const files = spec.files.map((f) => ({ ...f, sha256: sha256(f.data), blobId: gitBlobSha1(f.data) }));
      repos.set(spec.id, { spec, commit, files });
      for (const f of files) if (f.lfs) bySha.set(f.sha256, { repo: spec.id, file: f });
      return { commit, files };
    },
    fault(repo, path, ...fs) {
      const key = `${repo}/${path}`;
      faults.set(key, [...(faults.get(key) ?? []), ...fs]);
    },
    bytesServed: (repo, path) => served.get(`${repo}/${path}`) ?? 0,
    gets: (repo, path) => getCount.get(`${repo}/${path}`) ?? 0,
    requests,
    resetCounters() {
      served.clear();
      getCount.clear();
      requests.length = 0;
    },
    async close() {
      await Promise.all([hub.close(), cdn.close()]);
    },
  };
}
