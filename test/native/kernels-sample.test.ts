// The sampler: greedy, top-k/top-p/min-p exclusion, seeded reproducibility,
// penalties (exact formulas), banned tokens, logit bias, logprobs of the raw logits, and
// Philox-4x32-10 against a BigInt reference.
import t from 'tap';
import { ops, unwrap, type SampleArgs, type SampleOut } from './kernels-addon.js';
import { logSoftmax, penalizedRef, philoxRef, randn, rng, survivorsRef } from './reference.js';

interface Row {
  logits: Float32Array;
  temperature?: number; topP?: number; topK?: number; minP?: number;
  presence?: number; frequency?: number; repetition?: number;
  seed?: bigint; index?: number; logprobs?: number;
  output?: number[]; prompt?: number[]; banned?: number[];
  bias?: [number, number][];
}

function ragged(rows: number[][]) {
  const start = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => { start[i + 1] = start[i] + r.length; });
  return { values: Int32Array.from(rows.flat()), start };
}

function sample(rows: Row[], returnLogits = false): SampleOut {
  const V = rows[0].logits.length;
  const logits = new Float32Array(rows.length * V);
  rows.forEach((r, i) => { logits.set(r.logits, i * V); });
  const out = ragged(rows.map((r) => r.output ?? []));
  const prompt = ragged(rows.map((r) => r.prompt ?? []));
  const banned = ragged(rows.map((r) => r.banned ?? []));
  const bias = ragged(rows.map((r) => (r.bias ?? []).map(([id]) => id)));
  const args: SampleArgs = {
    logits, vocab: V,
    temperature: Float32Array.from(rows, (r) => r.temperature ?? 0),
    topP: Float32Array.from(rows, (r) => r.topP ?? 1),
    topK: Int32Array.from(rows, (r) => r.topK ?? 0),
    minP: Float32Array.from(rows, (r) => r.minP ?? 0),
    presencePenalty: Float32Array.from(rows, (r) => r.presence ?? 0),
    frequencyPenalty: Float32Array.from(rows, (r) => r.frequency ?? 0),
    repetitionPenalty: Float32Array.from(rows, (r) => r.repetition ?? 1),
    seeds: BigUint64Array.from(rows, (r) => r.seed ?? 0n),
    sampleIndex: Int32Array.from(rows, (r) => r.index ?? 0),
    numLogprobs: Int32Array.from(rows, (r) => r.logprobs ?? -1),
    outputTokens: out.values, outputStart: out.start,
    promptTokens: prompt.values, promptStart: prompt.start,
    bannedTokens: banned.values, bannedStart: banned.start,
    biasTokens: bias.values, biasStart: bias.start, biasValues: Float32Array.from(rows.flatMap((r) => (r.bias ?? []).map(([, v]) => v))),
    returnLogits,
  };
  return unwrap(ops.sample(args));
}

const argmax = (x: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
};

t.test('philox matches the reference', (t) => {
  for (const [seed, ctr] of [[0n, 0], [1n, 5], [0xdeadbeefcafebaben, 123456], [2n ** 64n - 1n, 2 ** 40 + 3]] as [bigint, number][]) {
    t.equal(unwrap(ops.philox(seed, ctr)), philoxRef(seed, ctr), `seed ${seed} counter ${ctr}`);
  }
  const u = Array.from({ length: 4000 }, (_, i) => unwrap(ops.philox(42n, i)));
  const mean = u.reduce((a, b) => a + b, 0) / u.length;
  t.ok(Math.abs(mean - 0.5) < 0.02 && Math.min(...u) >= 0 && Math.max(...u) < 1, `uniform on [0,1): mean ${mean.toFixed(3)}`);
  t.end();
});

t.test('greedy is argmax, ties to the lower id', (t) => {
  const r = rng(21);
  const rows: Row[] = Array.from({ length: 5 }, () => ({ logits: randn(r, 1000, 3) }));
  rows[1].logits[7] = 100; rows[1].logits[9] = 100;
  const s = sample(rows);
  t.same(Array.from(s.sampled), rows.map((x) => argmax(x.logits)));
  t.equal(s.sampled[1], 7);
  // The native argmax works 16 logits at a time: the maximum in the tail
  // past the last full block, ties in different blocks, -inf everywhere,
  // and vocabularies shorter than a block.
  const odd = (n: number, set: [number, number][], fill = -1): Row => {
    const logits = new Float32Array(n).fill(fill);
    for (const [i, v] of set) logits[i] = v;
    return { logits };
  };
  const edge = [
    odd(1003, [[1001, 5]]),
    odd(1003, [[900, 5], [20, 5], [1002, 5]]),
    odd(1003, [], -Infinity),
    odd(5, [[3, 2]]),
    odd(1, []),
    odd(32, [[15, 1], [16, 1]]),
  ];
  t.same(
    edge.map((row) => sample([row]).sampled[0]),
    [1001, 20, 0, 3, 0, 15],
    'tail, cross-block tie, all -inf, short vocabularies, block edge',
  );
  t.end();
});

t.test('top-k / top-p / min-p never draw an excluded token', (t) => {
  const r = rng(22);
  const logits = randn(r, 300, 2);
  const configs: Partial<Row>[] = [
    { temperature: 1, topK: 5 },
    { temperature: 0.7, topP: 0.5 },
    { temperature: 1.3, minP: 0.2 },
    { temperature: 1, topK: 40, topP: 0.9, minP: 0.05 },
    { temperature: 2, topP: 0.95 },
    { temperature: 1 },
  ];
  for (const c of configs) {
    const scaled = Float32Array.from(logits, (v) => Math.fround(v * Math.fround(1 / (c.temperature ?? 1))));
    const allowed = survivorsRef(scaled, c.topK ?? 0, c.topP ?? 1, c.minP ?? 0);
    const rows: Row[] = Array.from({ length: 3000 }, (_, i) => ({ logits, ...c, seed: 7n, index: i }));
    const s = sample(rows);
    const seen = new Map<number, number>();
    for (const tok of s.sampled) seen.set(tok, (seen.get(tok) ?? 0) + 1);
    const outside = [...seen.keys()].filter((k) => !allowed.has(k));
    t.same(outside, [], `${JSON.stringify(c)}: ${allowed.size} allowed, drawn ${seen.size} distinct`);
    // and the frequencies follow the renormalized probabilities (loose: 5 sigma)
    let worst = 0;
    for (const [id, p] of allowed) {
      const f = (seen.get(id) ?? 0) / rows.length;
      worst = Math.max(worst, Math.abs(f - p) / Math.sqrt((p * (1 - p)) / rows.length + 1e-9));
    }
    t.ok(worst < 5, `${JSON.stringify(c)}: frequencies within ${worst.toFixed(2)} sigma`);
    // The tail of the allowed set, taken together, is drawn as often as its
    // mass says: a cut that is too tight (top-p measured against part of the
    // mass) starves it, though each tail token alone is too rare to tell.
    const tail = [...allowed].sort((a, b) => a[1] - b[1]).slice(0, Math.floor(allowed.size / 2));
    const pTail = tail.reduce((a, [, p]) => a + p, 0);
    const fTail = tail.reduce((a, [id]) => a + (seen.get(id) ?? 0), 0) / rows.length;
    const zTail = Math.abs(fTail - pTail) / Math.sqrt((pTail * (1 - pTail)) / rows.length + 1e-9);
    t.ok(zTail < 5, `${JSON.stringify(c)}: the allowed tail (mass ${pTail.toFixed(3)}) drawn at ${fTail.toFixed(3)}, ${zTail.toFixed(2)} sigma`);
  }
  t.end();
});

t.test('the same (seed, index) draws the same token, alone or in any batch', (t) => {
  const r = rng(23);
  const rows: Row[] = Array.from({ length: 16 }, (_, i) => ({
    logits: randn(r, 500, 1), temperature: 1, topP: 0.9, seed: BigInt(1000 + (i % 4)), index: i,
  }));
  const batch = sample(rows).sampled;
  const alone = rows.map((row) => sample([row]).sampled[0]);
  t.same(Array.from(batch), alone, 'alone = in a batch');
  const order = [...rows.keys()].reverse();
  const shuffled = sample(order.map((i) => rows[i])).sampled;
  t.same(order.map((_, j) => shuffled[j]), order.map((i) => batch[i]), 'order of the batch does not matter');
  const other = sample(rows.map((row) => ({ ...row, seed: (row.seed ?? 0n) + 17n }))).sampled;
  t.not(Array.from(other).join(), Array.from(batch).join(), 'another seed draws differently');
  t.end();
});

t.test('penalties change the logits exactly as the formulas say', (t) => {
  const r = rng(24);
  const logits = randn(r, 64, 2);
  const row: Row = {
    logits, presence: 0.5, frequency: 0.3, repetition: 1.3,
    output: [3, 3, 3, 10, 11, 3], prompt: [10, 20, 21, 21], banned: [5, 63], bias: [[3, 1.5], [5, 7], [20, -2.25], [40, 0.5]],
  };
  const s = sample([row], true);
  const want = penalizedRef(logits, {
    presence: 0.5, frequency: 0.3, repetition: 1.3, output: row.output ?? [], prompt: row.prompt ?? [], banned: row.banned ?? [], bias: row.bias,
  });
  t.equal(want[5], -Infinity, 'a banned token stays banned whatever its bias');
  t.same(Array.from(s.logits ?? []), Array.from(want), 'greedy: logits after banned, bias and penalties');
  t.equal(s.sampled[0], argmax(want), 'greedy picks from the penalized logits');
  const hot = sample([{ ...row, temperature: 2, seed: 1n }], true);
  t.same(Array.from(hot.logits ?? []), Array.from(want, (v) => Math.fround(v * Math.fround(1 / 2))), 'then / temperature');
  t.end();
});

t.test('banned tokens are never drawn', (t) => {
  const logits = new Float32Array(50).fill(0);
  logits[1] = 10; logits[2] = 9; logits[3] = 8;
  const rows: Row[] = Array.from({ length: 500 }, (_, i) => ({ logits, temperature: 1.5, banned: [1, 2], seed: 3n, index: i }));
  const drawn = new Set(sample(rows).sampled);
  t.notOk(drawn.has(1) || drawn.has(2), 'neither banned token appears');
  t.ok(drawn.has(3), 'the best allowed token does');
  t.equal(sample([{ logits, banned: [1] }]).sampled[0], 2, 'greedy skips a banned token');
  t.end();
});

t.test('logit bias: +100 forces a token, -100 excludes one, and logprobs stay the raw ones', (t) => {
  const r = rng(31);
  const logits = randn(r, 300, 3);
  const worst = Array.from(logits).indexOf(Math.min(...logits));
  const best = argmax(logits);
  const rows: Row[] = Array.from({ length: 200 }, (_, i) => ({ logits, temperature: 1.3, topP: 0.9, seed: 5n, index: i, bias: [[worst, 100]], logprobs: 2 }));
  const forced = sample(rows);
  t.ok(forced.sampled.every((x) => x === worst), 'every draw is the token biased by +100');
  const lp = logSoftmax(logits);
  t.ok(Math.abs(forced.logprob[0] - lp[worst]) < 1e-4, 'its logprob is the raw one');
  t.equal(forced.topIds[0], best, 'the top-N logprobs rank the raw logits');
  const excluded = sample(rows.map((row) => ({ ...row, bias: [[best, -100]], logprobs: -1 })));
  t.notOk(excluded.sampled.includes(best), 'a token biased by -100 is never drawn');
  t.equal(sample([{ logits, bias: [[best, -100]] }]).sampled[0], argmax(logits.map((v, i) => (i === best ? -Infinity : v))), 'greedy takes the next best');
  const nudged = Float32Array.from(logits);
  nudged[worst] += 50;
  t.equal(sample([{ logits, bias: [[worst, 50], [best, 0]] }]).sampled[0], argmax(nudged), 'a bias moves greedy by exactly its value');
  t.end();
});

t.test('logprobs are the raw log-softmax, with the top N', (t) => {
  const r = rng(25);
  const logits = randn(r, 2000, 3);
  const row: Row = { logits, temperature: 0.8, topK: 10, presence: 1, output: [5], seed: 9n, logprobs: 5 };
  const s = sample([row, { ...row, logprobs: 0 }, { ...row, logprobs: -1 }]);
  const ref = logSoftmax(logits);
  const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 5);
  t.equal(s.topN, 5);
  t.same(Array.from(s.topIds.subarray(0, 5)), order, 'top ids best first');
  // f64 log-sum-exp rounded once to f32: within 1 ulp of |logprob| (+ tiny)
  const close = (a: number, b: number) => Math.abs(a - b) <= 2 ** -23 * Math.abs(b) + 1e-6;
  t.ok(order.every((id, i) => close(s.topLogprobs[i], ref[id])), 'top logprobs');
  t.ok(close(s.logprob[0], ref[s.sampled[0]]), 'chosen token logprob');
  t.ok(close(s.logprob[1], ref[s.sampled[1]]), 'numLogprobs 0: chosen only');
  t.same(Array.from(s.topIds.subarray(5, 10)), [-1, -1, -1, -1, -1], 'rows asking fewer are padded with -1');
  t.ok(Number.isNaN(s.logprob[2]), 'numLogprobs -1: NaN');
  t.end();
});

t.test('sampler argument errors', (t) => {
  const base = { logits: new Float32Array(10) } as Row;
  const bad = (patch: Partial<SampleArgs>, what: string) => {
    const args = {
      logits: base.logits, vocab: 10, temperature: new Float32Array(1), topP: new Float32Array([1]), topK: new Int32Array(1),
      minP: new Float32Array(1), presencePenalty: new Float32Array(1), frequencyPenalty: new Float32Array(1),
      repetitionPenalty: new Float32Array([1]), seeds: new BigUint64Array(1), sampleIndex: new Int32Array(1),
      numLogprobs: new Int32Array([-1]), ...patch,
    };
    const r = ops.sample(args);
    t.equal(r.ok ? 'ok' : r.error.code, 'HIPSERVE_E_INVALID_ARGUMENT', what);
  };
  bad({ vocab: 3 }, 'logits not whole rows');
  bad({ topP: new Float32Array([0]) }, 'topP 0');
  bad({ topK: new Int32Array(2) }, 'per-row array of the wrong length');
  bad({ outputTokens: new Int32Array([1]), outputStart: new Int32Array([0, 2]) }, 'offsets past the tokens');
  t.throws(() => ops.sample({ ...({} as SampleArgs), logits: [1, 2] as unknown as Float32Array, vocab: 2 }), TypeError);
  t.end();
});
