// Multi-step calls (Step.numSteps > 1): K decode steps in one native call
// must give exactly what K one-step calls give (tokens, logprobs, top-N, for
// greedy, seeded sampling and penalties), end a sequence at its stop tokens
// or maxSteps while the others go on, apply bannedTokens to the leading
// banSteps steps only, a logit bias to every step, and refuse what it cannot
// run with an error Result.
import t from 'tap';
import { fixtureModel } from '../fixtures/models.js';
import { createKvCache, forward, forwardSync, loadModel, releaseKvCache, releaseModel } from '../../src/native.js';
import type { KvCacheHandle, ModelHandle, Step } from '../../src/native.js';
import { DEFAULT_SAMPLING } from '../../src/engine/params.js';
import { ModelRunner, type RunnableSeq, type SeqSampling, type StepResult } from '../../src/runner/runner.js';
import { promptIds } from './step-helpers.js';

const BS = 16;
const K = 6;

const r = await loadModel(await fixtureModel('llama', 'gguf'));
if (!r.ok) throw r.error;
const model: ModelHandle = r.value.handle;
const kvr = createKvCache(model, { numBlocks: 512, blockSize: BS });
if (!kvr.ok) throw kvr.error;
const kv: KvCacheHandle = kvr.value.handle;
t.teardown(() => {
  releaseKvCache(kv);
  releaseModel(model);
});

/** forwardSync, or forward() (the libuv worker) while `viaWorker` is set. */
let viaWorker = false;
const runner = new ModelRunner(async (step) => {
  const res = viaWorker ? await forward(model, kv, step) : forwardSync(model, kv, step);
  if (!res.ok) throw res.error;
  return res.value;
}, BS);

let nextBlock = 1;

/** One sequence with its own blocks and its live sampling state (as the engine keeps it). */
interface Seq {
  id: string;
  blocks: number[];
  len: number;
  out: number[];
  sampling: SeqSampling;
  maxSteps?: number;
}

type Kind = 'greedy' | 'seeded' | 'penalized';

function newSeq(kind: Kind, prompt: number[]): Seq {
  const n = Math.ceil((prompt.length + K + 2) / BS);
  const blocks = Array.from({ length: n }, () => nextBlock++);
  const out: number[] = [];
  const base: SeqSampling = { ...DEFAULT_SAMPLING, temperature: 0, seed: 0n, numLogprobs: -1, promptTokenIds: prompt, outputTokenIds: out, banned: [] };
  const sampling: SeqSampling =
    kind === 'greedy'
      ? { ...base, numLogprobs: 3 }
      : kind === 'seeded'
        ? { ...base, temperature: 0.9, topK: 40, topP: 0.95, seed: 1234n, numLogprobs: 0 }
        : { ...base, temperature: 1, minP: 0.02, presencePenalty: 0.6, frequencyPenalty: 0.4, repetitionPenalty: 1.3, seed: 99n };
  return { id: kind, blocks, len: 0, out, sampling };
}

const PROMPTS: Record<Kind, number[]> = { greedy: promptIds(19, 3), seeded: promptIds(7, 4), penalized: promptIds(23, 5) };
const KINDS: Kind[] = ['greedy', 'seeded', 'penalized'];

/** Three sequences, each prefilled (its first token sampled). */
async function world(): Promise<Seq[]> {
  const seqs = KINDS.map((k) => newSeq(k, PROMPTS[k]));
  for (const s of seqs) {
    const p = PROMPTS[s.id as Kind];
    const res = await runner.execute([{ requestId: s.id, tokenIds: p, startPos: 0, numTokens: p.length, blockIds: s.blocks, sample: true }], () => s.sampling);
    s.len = p.length;
    s.out.push(res.sampled[0]);
  }
  return seqs;
}

interface Row {
  token: number;
  logprob: number;
  topIds: number[];
  topLogprobs: number[];
}

/** One call of `numSteps` decode steps over `seqs`; returns each seq's rows (tokens it sampled) and advances it. */
async function call(seqs: Seq[], numSteps: number): Promise<{ res: StepResult; rows: Row[][] }> {
  const run: RunnableSeq[] = seqs.map((s) => ({
    requestId: s.id,
    tokenIds: [s.out[s.out.length - 1]],
    startPos: s.len,
    numTokens: 1,
    blockIds: s.blocks,
    sample: true,
    maxSteps: s.maxSteps ?? numSteps,
  }));
  const bySeq = new Map(seqs.map((s) => [s.id, s.sampling]));
  const res = await runner.execute(run, (id) => bySeq.get(id) ?? seqs[0].sampling, numSteps);
  const S = seqs.length;
  const rows: Row[][] = seqs.map(() => []);
  for (let k = 0; k < res.steps; k++) {
    seqs.forEach((s, i) => {
      const row = k * S + i;
      const token = res.sampled[row];
      if (token < 0) return;
      const n = res.topN;
      rows[i].push({
        token,
        logprob: res.logprob[row],
        topIds: Array.from(res.topIds.subarray(row * n, (row + 1) * n)),
        topLogprobs: Array.from(res.topLogprobs.subarray(row * n, (row + 1) * n)),
      });
      s.len++;
      s.out.push(token);
    });
  }
  return { res, rows };
}

/** The reference: `steps` one-step calls; each seq's rows. */
async function oneByOne(seqs: Seq[], steps: number): Promise<Row[][]> {
  const rows: Row[][] = seqs.map(() => []);
  for (let k = 0; k < steps; k++) {
    const live = seqs.filter((s) => (s.maxSteps ?? steps) > k);
    const { rows: r1 } = await call(live, 1);
    live.forEach((s, j) => rows[seqs.indexOf(s)].push(...r1[j]));
  }
  return rows;
}

t.test('K steps in one call give what K one-step calls give, bit for bit', async (t) => {
  const a = await world();
  const b = await world();
  const ref = await oneByOne(a, K);
  const { res, rows } = await call(b, K);
  t.equal(res.steps, K);
  t.equal(res.sampled.length, K * 3, 'K rows of S');
  for (let i = 0; i < KINDS.length; i++) {
    t.same(rows[i], ref[i], `${KINDS[i]}: the same tokens, logprobs and top-N`);
    t.equal(rows[i].length, K);
  }
  t.ok(rows[0].every((r) => r.topIds.length === 3 && r.topIds[0] === r.token), 'greedy rows carry their top 3');
  // The sequences went on from where the call left them.
  const after = await oneByOne(a, 1);
  const afterB = await oneByOne(b, 1);
  t.same(afterB, after, 'the KV written by the burst serves the next step');
  const c = await world();
  viaWorker = true;
  const { rows: rowsC } = await call(c, K).finally(() => (viaWorker = false));
  t.same(rowsC, ref, 'forward() on the worker thread runs the same burst');
});

t.test('a stop token or maxSteps ends one sequence; the others go on unchanged', async (t) => {
  const ref = await oneByOne(await world(), K);
  const seqs = await world();
  // The greedy one stops at the token it samples at step 2 (one not sampled before).
  const g = ref[0].map((r) => r.token);
  const at = g.findIndex((tok, k) => k >= 1 && !g.slice(0, k).includes(tok));
  t.ok(at >= 1, 'the fixture gives a fresh token to stop on');
  seqs[0].sampling.stopIds = [g[at]];
  seqs[1].maxSteps = 2;
  const { res, rows } = await call(seqs, K);
  t.equal(res.steps, K);
  t.same(rows[0], ref[0].slice(0, at + 1), 'greedy: up to and including its stop token');
  t.same(rows[1], ref[1].slice(0, 2), 'seeded: its two tokens');
  t.same(rows[2], ref[2], 'penalized: all K, as if alone');
  t.equal(res.sampled[(at + 1) * 3], -1, 'rows after a stop hold -1');
});

t.test('a call ends early once every sequence has stopped', async (t) => {
  const seqs = await world();
  for (const s of seqs) s.maxSteps = 2;
  const { res, rows } = await call(seqs, K);
  t.equal(res.steps, 2);
  t.same(
    rows.map((r) => r.length),
    [2, 2, 2],
  );
  t.ok(Array.from(res.sampled.subarray(2 * 3)).every((x) => x === -1), 'the rows never run are -1');
});

t.test('bannedTokens apply to the leading banSteps steps only', async (t) => {
  const free = await oneByOne(await world(), 3);
  const banned = [free[0][0].token, free[0][2].token];
  // Reference: one-step calls, the ban given to the first two steps only.
  const a = await world();
  const ref: Row[][] = a.map(() => []);
  for (let k = 0; k < 3; k++) {
    a[0].sampling.banned = k < 2 ? banned : [];
    const rows = await oneByOne(a, 1);
    rows.forEach((r, i) => ref[i].push(...r));
  }
  const b = await world();
  b[0].sampling.banned = banned;
  b[0].sampling.banSteps = 2;
  const { rows } = await call(b, 3);
  t.same(rows, ref, 'the same as the ban given step by step');
  t.not(rows[0][0].token, banned[0], 'step 0 banned its token');
  t.ok(rows[0].slice(0, 2).every((r) => !banned.includes(r.token)), 'steps 0 and 1 avoid both');
});

t.test('a logit bias applies to every step of a call, each sequence its own', async (t) => {
  const free = await oneByOne(await world(), K);
  // Greedy: push down the token it picks first and pull up one it never picks.
  const never = [5, 6, 7, 8, 9].find((tok) => !free[0].some((r) => r.token === tok)) ?? 5;
  const biases = [
    { ids: [never, free[0][0].token].sort((x, y) => x - y), values: [] as number[] },
    { ids: [11, 12], values: [2.5, -1] },
    { ids: [free[2][1].token], values: [-100] },
  ];
  biases[0].values = biases[0].ids.map((id) => (id === never ? 4 : -100));
  const a = await world();
  const b = await world();
  a.forEach((s, i) => (s.sampling.bias = biases[i]));
  b.forEach((s, i) => (s.sampling.bias = biases[i]));
  const ref = await oneByOne(a, K);
  const { rows } = await call(b, K);
  t.same(rows, ref, 'the same tokens, logprobs and top-N as one-step calls');
  t.not(rows[0][0].token, free[0][0].token, 'greedy: the token biased by -100 is not picked');
  t.ok(rows[0].every((r) => r.token !== free[0][0].token), '... at any step');
  t.ok(rows[2].every((r) => r.token !== free[2][1].token), 'penalized: its -100 token never drawn');
  t.same(rows[0][0].logprob, ref[0][0].logprob, 'logprobs are the raw model ones, as one-step calls give');
});

t.test('what a multi-step call cannot run is an INVALID_ARGUMENT naming the field; the model stays usable', async (t) => {
  const seqs = await world();
  const s = seqs[0];
  const pack = (numSteps: number, blocks = s.blocks, tokens = [s.out[s.out.length - 1]]): Step => ({
    ...runner.pack(
      [{ requestId: s.id, tokenIds: tokens, startPos: s.len, numTokens: tokens.length, blockIds: blocks, sample: true, maxSteps: numSteps }],
      () => s.sampling,
      numSteps,
    ),
  });
  const expectBad = (step: Step, field: string, what: string): void => {
    // Copy the arrays: pack hands out views of buffers it reuses.
    const copy = Object.fromEntries(Object.entries(step).map(([k, v]) => [k, ArrayBuffer.isView(v) ? (v as Int32Array).slice() : v])) as unknown as Step;
    const res = forwardSync(model, kv, copy);
    t.equal(res.ok ? 'ok' : res.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', what);
    t.match(res.ok ? '' : res.error.message, field, `${what}: names ${field}`);
  };
  expectBad(pack(2, s.blocks, [s.out[s.out.length - 1], 7]), 'numSteps', 'a chunk of two tokens');
  expectBad(pack(0), 'numSteps', 'zero steps');
  expectBad(pack(300), 'numSteps', 'too many steps');
  const tight = s.blocks.slice(0, Math.ceil((s.len + 1) / BS));
  const room = tight.length * BS - s.len; // tokens the table still holds
  expectBad(pack(room + 1, tight), 'maxSteps', 'more steps than the block table holds');
  const badStops = pack(3);
  expectBad({ ...badStops, stopStart: new Int32Array([0]) }, 'stopStart', 'a short stopStart');
  expectBad({ ...badStops, maxSteps: new Int32Array([4]) }, 'maxSteps', 'maxSteps above numSteps');
  // Nothing ran: the sequence goes on as before.
  const { res } = await call([s], room);
  t.equal(res.steps, room, 'a call that fits the table exactly runs');
});
