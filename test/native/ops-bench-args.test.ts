// ops.benchMatmul and ops.threads (the bench's entry points,
// native/src/ops/ops_tensor.cc and ops.cc) as native/src/ops/args.h defines
// argument handling: a wrong JS type throws a TypeError, a right type with a
// wrong value is an INVALID_ARGUMENT Result naming the op. One tiny valid
// call returns finite numbers; nothing here says anything about speed.
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { ops, unwrap, type OpResult } from './kernels-addon.js';

const M = 1, K = 32, N = 2;
const x = Float32Array.from({ length: M * K }, (_, i) => (i % 7) - 3);
/** N rows of K f32 weights, `copies` times over, as bytes. */
const weights = (copies = 1): Uint8Array => new Uint8Array(Float32Array.from({ length: copies * N * K }, (_, i) => ((i % 5) - 2) / 4).buffer);

function invalid(t: Test, r: OpResult<unknown>, message: RegExp, what: string): void {
  t.match(r, { ok: false, error: { code: 'HIPSERVE_E_INVALID_ARGUMENT', where: 'ops.benchMatmul', message } }, what);
}

t.test('ops.threads: the default pool\'s thread count', (t) => {
  const n = unwrap(ops.threads());
  t.ok(Number.isInteger(n) && n >= 1, `a whole number of threads, at least 1: ${n}`);
  t.end();
});

t.test('ops.benchMatmul: a tiny valid call, with and without copies, gives finite times', (t) => {
  for (const [copies, what] of [[undefined, 'one matrix'], [1, 'copies 1'], [3, 'three copies']] as const) {
    const r = unwrap(ops.benchMatmul(x, M, K, weights(copies ?? 1), 'f32', N, 3, 1, copies));
    for (const k of ['best', 'mean', 'cpuBest'] as const) {
      t.ok(Number.isFinite(r[k]) && r[k] >= 0, `${what}: ${k} is a finite, non-negative number of seconds`);
    }
  }
  t.end();
});

t.test('ops.benchMatmul: wrong types throw TypeError', (t) => {
  const w = weights();
  t.throws(() => ops.benchMatmul(Array.from(x) as unknown as Float32Array, M, K, w, 'f32', N, 2), TypeError, 'x not a Float32Array');
  t.throws(() => ops.benchMatmul(x, M, K, new Float32Array(N * K) as unknown as Uint8Array, 'f32', N, 2), TypeError, 'weights not a Uint8Array');
  t.throws(() => ops.benchMatmul(x, M, K, w, 3 as unknown as 'f32', N, 2), TypeError, 'dtype not a string');
  t.throws(() => ops.benchMatmul(x, M, K, w, 'f32', N, '2' as unknown as number), /ops\.benchMatmul: iters must be a number/, 'iters a string');
  t.throws(() => ops.benchMatmul(x, M, K, w, 'f32', N, 2, '1' as unknown as number), /ops\.benchMatmul: threads must be a number/, 'threads a string');
  t.throws(() => ops.benchMatmul(x, M, K, w, 'f32', N, 2, 1, '1' as unknown as number), /ops\.benchMatmul: copies must be a number/, 'copies a string');
  t.throws(() => ops.benchMatmul(x, M, K, w, 'f32', N, 2, 1, '1' as unknown as number), TypeError, 'and it is a TypeError');
  t.end();
});

t.test('ops.benchMatmul: wrong values are INVALID_ARGUMENT Results', (t) => {
  const w = weights();
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 2, 1, 0), /copies must be within \[1, 4096\]/, 'copies 0');
  invalid(t, ops.benchMatmul(x, M, K, weights(), 'f32', N, 2, 1, 4097), /copies must be within \[1, 4096\]/, 'copies 4097');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 2, 1, 1.5), /copies must be a non-negative integer/, 'fractional copies');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 2, 1, -1), /copies must be a non-negative integer/, 'negative copies');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 2, 1, 3), /weights must hold `copies` equal matrices/, 'weights not divisible into 3 copies');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 2, 1, 2), /weights must hold N rows of K values/, 'two copies of half a matrix');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 0), /iters must be within \[1, 100000\]/, 'iters 0');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 100001), /iters must be within \[1, 100000\]/, 'iters 100001');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 2.5), /iters must be a non-negative integer/, 'fractional iters');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 2, 257), /threads must be at most 256/, 'threads 257');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f32', N, 2, 1.5), /threads must be a non-negative integer/, 'fractional threads');
  invalid(t, ops.benchMatmul(x, 0, K, w, 'f32', N, 2), /M, K and N must be at least 1/, 'M 0');
  invalid(t, ops.benchMatmul(x, M, K, w, 'f64' as 'f32', N, 2), /dtype must be one of/, 'unknown dtype');
  t.equal(unwrap(ops.benchMatmul(x, M, K, w, 'f32', N, 1)).best >= 0, true, 'the addon still answers');
  t.end();
});

t.test('ops.poolRoundTrip: a number of ns between two pool threads, null with one; bad arguments', (t) => {
  const one = unwrap(ops.poolRoundTrip(100, 1));
  t.same(one, { nanoseconds: null, threads: 1 }, 'a one-thread pool has no second thread to reach');
  // A two-thread pool's worker joins at once on an idle machine; on a loaded
  // one it may miss the 200 ms window now and then, so a few tries.
  let two = unwrap(ops.poolRoundTrip(1000, 2));
  for (let i = 0; i < 4 && two.nanoseconds === null; i++) two = unwrap(ops.poolRoundTrip(1000, 2));
  t.equal(two.threads, 2, 'the two-thread pool');
  t.ok(two.nanoseconds !== null && Number.isFinite(two.nanoseconds) && two.nanoseconds > 0, `a finite, positive round trip: ${String(two.nanoseconds)} ns`);
  const def = unwrap(ops.poolRoundTrip(10));
  t.equal(def.threads, unwrap(ops.threads()), 'no threads argument: the default pool');
  if (def.threads === 1) t.equal(def.nanoseconds, null, 'a one-thread default pool: null');
  const bad = (r: OpResult<unknown>, message: RegExp, what: string): void => {
    t.match(r, { ok: false, error: { code: 'HIPSERVE_E_INVALID_ARGUMENT', where: 'ops.poolRoundTrip', message } }, what);
  };
  bad(ops.poolRoundTrip(0), /rounds must be within \[1, 1000000\]/, 'rounds 0');
  bad(ops.poolRoundTrip(1_000_001), /rounds must be within \[1, 1000000\]/, 'rounds over a million');
  bad(ops.poolRoundTrip(2.5), /rounds must be a non-negative integer/, 'fractional rounds');
  bad(ops.poolRoundTrip(10, 257), /threads must be at most 256/, 'threads 257');
  t.throws(() => ops.poolRoundTrip('10' as unknown as number), /ops\.poolRoundTrip: rounds must be a number/, 'rounds a string: TypeError');
  t.throws(() => ops.poolRoundTrip(10, '2' as unknown as number), TypeError, 'threads a string: TypeError');
  t.end();
});

// The pool's hand-off: a worker still on a finished task must claim nothing
// of the next (a stale worker once ran the next task's items again, ~1 task
// in 10^4-10^5 of a decode); more threads than cores make workers late.
t.test('ops.poolStress: every item of 200k back-to-back tasks runs exactly once within its task', (t) => {
  for (const threads of [2, 3, 7]) {
    const r = unwrap(ops.poolStress(threads === 2 ? 100_000 : 50_000, 7 + threads, threads));
    t.same(r, { bad: 0, threads }, `${String(threads)} threads: no item ran twice, late or never`);
  }
  const bad = (r: OpResult<unknown>, message: RegExp, what: string): void => {
    t.match(r, { ok: false, error: { code: 'HIPSERVE_E_INVALID_ARGUMENT', where: 'ops.poolStress', message } }, what);
  };
  bad(ops.poolStress(0, 1), /tasks must be within \[1, 10000000\]/, 'tasks 0');
  bad(ops.poolStress(10, 1, 257), /threads must be at most 256/, 'threads 257');
  t.throws(() => ops.poolStress('10' as unknown as number, 1), TypeError, 'tasks a string: TypeError');
  t.end();
});

// Linux's default (heuristic) overcommit refuses one allocation larger than
// RAM + swap; under "always overcommit" (mode 1) the vector below would be
// touched and the OOM killer would end the test run instead.
function overcommitMode(): string {
  try {
    return readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim();
  } catch {
    return 'none'; // not Linux: malloc refuses 131 GB on its own
  }
}
const alwaysOvercommit = overcommitMode() === '1';

t.test('ops.*: a C++ exception (std::bad_alloc) is an error Result, not an abort', { skip: alwaysOvercommit ? 'vm.overcommit_memory = 1: a 131 GB allocation would succeed and be touched' : false }, (t) => {
  // Was: ops' run() caught only its own argument errors, so the 131 GB
  // output buffer below threw std::bad_alloc through node-addon-api's
  // wrapper, which catches Napi::Error only: std::terminate, SIGABRT.
  const bigM = 32768, bigN = 1_000_000; // x 4 MB, weights 34 MB, output M*N floats = 131 GB
  const r = ops.benchMatmul(new Float32Array(bigM * 32), bigM, 32, new Uint8Array(bigN * 34), 'q8_0', bigN, 1, 1);
  t.match(r, { ok: false, error: { code: 'HIPSERVE_E_OUT_OF_MEMORY', where: 'ops.benchMatmul', message: /bad_alloc/ } });
  t.equal(unwrap(ops.benchMatmul(x, M, K, weights(), 'f32', N, 1)).best >= 0, true, 'the addon still answers');
  t.end();
});
