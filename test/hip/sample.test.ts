// Sampling on the device (kernels/sample.hip) on the emulator against the
// CPU sampler (ops.sample): greedy, banned tokens, logit bias, penalties, and seeded
// draws through temperature / top-k / top-p / min-p must pick the same
// tokens (Philox counters match the CPU's), with the same logprobs, at
// wavefront 64 and 32.
import t from 'tap';

import { ops, unwrap } from '../native/kernels-addon.js';
import type { SampleArgs } from '../native/kernels-addon.js';
import { randn, rng } from '../native/reference.js';
import { WAVES, atWave, closeness, hipEmu, missingReason } from './emu.js';

interface Row {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  presence?: number;
  frequency?: number;
  repetition?: number;
  seed?: bigint;
  index?: number;
  logprobs?: number;
  output?: number[];
  prompt?: number[];
  banned?: number[];
  /** logit_bias [id, value] pairs, ids increasing. */
  bias?: [number, number][];
}

function args(seed: number, vocab: number, rows: Row[]): SampleArgs {
  const r = rng(seed);
  const ragged = (pick: (row: Row) => number[] | undefined) => {
    const start = new Int32Array(rows.length + 1);
    const values: number[] = [];
    rows.forEach((row, i) => {
      values.push(...(pick(row) ?? []));
      start[i + 1] = values.length;
    });
    return { values: Int32Array.from(values), start };
  };
  const out = ragged((row) => row.output);
  const prompt = ragged((row) => row.prompt);
  const banned = ragged((row) => row.banned);
  const bias = ragged((row) => row.bias?.map(([id]) => id));
  return {
    logits: randn(r, rows.length * vocab, 2),
    vocab,
    temperature: Float32Array.from(rows.map((x) => x.temperature ?? 0)),
    topP: Float32Array.from(rows.map((x) => x.topP ?? 1)),
    topK: Int32Array.from(rows.map((x) => x.topK ?? 0)),
    minP: Float32Array.from(rows.map((x) => x.minP ?? 0)),
    presencePenalty: Float32Array.from(rows.map((x) => x.presence ?? 0)),
    frequencyPenalty: Float32Array.from(rows.map((x) => x.frequency ?? 0)),
    repetitionPenalty: Float32Array.from(rows.map((x) => x.repetition ?? 1)),
    seeds: BigUint64Array.from(rows.map((x) => x.seed ?? 7n)),
    sampleIndex: Int32Array.from(rows.map((x) => x.index ?? 0)),
    numLogprobs: Int32Array.from(rows.map((x) => x.logprobs ?? -1)),
    outputTokens: out.values,
    outputStart: out.start,
    promptTokens: prompt.values,
    promptStart: prompt.start,
    bannedTokens: banned.values,
    bannedStart: banned.start,
    biasTokens: bias.values,
    biasValues: Float32Array.from(rows.flatMap((row) => (row.bias ?? []).map(([, v]) => v))),
    biasStart: bias.start,
  };
}

const emu = hipEmu;
if (emu === undefined) {
  t.fail(missingReason);
} else {
  for (const lanes of WAVES) {
    t.test(`greedy, banned, penalties and logprobs, wave${lanes}`, (t) => {
      atWave(emu, lanes, () => {
        const a = args(21 + lanes, 1000, [
          { logprobs: 5 },
          { banned: [0, 1, 2], logprobs: 0 },
          { repetition: 1.5, prompt: [3, 4, 5], output: [6, 6], presence: 0.5, frequency: 0.3, logprobs: 3 },
          { temperature: 0.7, topK: 1 },
        ]);
        // make the penalties decide: the raw argmax of row 2 is a penalized token
        a.logits[2 * 1000 + 6] = 9;
        a.logits[2 * 1000 + 4] = 8.5;
        const want = unwrap(ops.sample(a));
        const got = unwrap(emu.sample(a));
        t.same(Array.from(got.sampled), Array.from(want.sampled), 'same tokens');
        t.equal(got.topN, want.topN);
        t.same(Array.from(got.topIds), Array.from(want.topIds), 'same top ids, best first');
        t.ok(closeness(got.topLogprobs, want.topLogprobs, 1e-5, 1e-5) <= 1, 'same top logprobs');
        t.ok(closeness(got.logprob.subarray(0, 3), want.logprob.subarray(0, 3), 1e-5, 1e-5) <= 1, 'same chosen logprobs');
        t.ok(Number.isNaN(got.logprob[3]), 'no logprob when not asked');
      });
      t.end();
    });

    t.test(`logit bias, with banned tokens and penalties, wave${lanes}`, (t) => {
      atWave(emu, lanes, () => {
        const rows: Row[] = [
          { bias: [[17, 100]], logprobs: 2 },
          { bias: [[0, -3], [1, 2.5], [2, 40], [999, -100]], banned: [2], logprobs: 1 },
          { bias: [[6, 3], [7, -1]], repetition: 1.5, output: [6, 7, 7], presence: 0.4, frequency: 0.2 },
        ];
        for (let i = 0; i < 9; i++) rows.push({ temperature: 1.1, topK: 50, topP: 0.9, seed: BigInt(i), index: i, bias: [[3 * i, 6], [3 * i + 500, 8]] });
        const a = args(61 + lanes, 1000, rows);
        const want = unwrap(ops.sample(a));
        const got = unwrap(emu.sample(a));
        t.same(Array.from(got.sampled), Array.from(want.sampled), 'same tokens as the CPU');
        t.equal(got.sampled[0], 17, '+100 forces its token');
        t.not(got.sampled[1], 2, 'a banned token stays banned whatever its bias');
        t.ok(closeness(got.topLogprobs, want.topLogprobs, 1e-5, 1e-5) <= 1, 'same (raw) top logprobs');
        const unsorted = { ...a, biasTokens: Int32Array.from([5, 4]), biasValues: Float32Array.from([1, 1]), biasStart: Int32Array.from([0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]) };
        const r = emu.sample(unsorted);
        t.notOk(r.ok, 'ids out of order are refused (the kernel gives each id to one thread)');
      });
      t.end();
    });

    t.test(`a grammar's mask (response_format): most of the vocabulary banned, wave${lanes}`, (t) => {
      atWave(emu, lanes, () => {
        const V = 5000;
        const allowedOf = (i: number): number[] => [7 * i + 1, 2500 + i, V - 1 - i];
        const rows: Row[] = [];
        for (let i = 0; i < 6; i++) {
          const allowed = new Set(allowedOf(i));
          const banned = Array.from({ length: V }, (_, k) => k).filter((k) => !allowed.has(k));
          rows.push(i < 2 ? { banned, logprobs: 2 } : { banned, temperature: 0.8 + 0.1 * i, topK: i === 3 ? 2 : 0, topP: i === 4 ? 0.5 : 1, minP: i === 5 ? 0.2 : 0, seed: BigInt(i), index: i });
        }
        const a = args(131 + lanes, V, rows);
        const want = unwrap(ops.sample(a));
        const got = unwrap(emu.sample(a));
        t.same(Array.from(got.sampled), Array.from(want.sampled), 'the same tokens as the CPU');
        got.sampled.forEach((tok, i) => { t.ok(allowedOf(i).includes(tok), `row ${i}: ${tok} is one the grammar allows`); });
        t.ok(closeness(got.logprob.subarray(0, 2), want.logprob.subarray(0, 2), 1e-5, 1e-5) <= 1, 'same chosen logprobs');
        t.ok(Array.from(got.logprob.subarray(0, 2)).every(Number.isFinite), 'finite logprobs');
      });
      t.end();
    });

    t.test(`seeded draws with temperature, top-k, top-p, min-p, wave${lanes}`, (t) => {
      atWave(emu, lanes, () => {
        const rows: Row[] = [];
        for (let i = 0; i < 12; i++) {
          rows.push({ temperature: 0.9, seed: BigInt(1000 + i), index: i * 3 });
          rows.push({ temperature: 1.2, topK: 40, topP: 0.8, seed: BigInt(77 + i), index: i });
          rows.push({ temperature: 0.6, topK: 300, minP: 0.05, seed: 0xffffffffffn + BigInt(i), index: 5 });
        }
        const a = args(99 + lanes, 777, rows);
        const want = unwrap(ops.sample(a));
        const got = unwrap(emu.sample(a));
        t.same(Array.from(got.sampled), Array.from(want.sampled), 'the same draws as the CPU');
        t.ok(new Set(got.sampled).size > 10, 'seeded draws differ between rows');
        // top-p alone on a vocabulary the CPU ranks in one pass (<= 64 finite tokens)
        const small: Row[] = Array.from({ length: 8 }, (_, i) => ({ temperature: 1, topP: 0.7, seed: BigInt(i), index: 2 }));
        const b = args(5 + lanes, 60, small);
        t.same(Array.from(unwrap(emu.sample(b)).sampled), Array.from(unwrap(ops.sample(b)).sampled), 'top-p alone');
      });
      t.end();
    });
  }
}
