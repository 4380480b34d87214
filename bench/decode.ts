// Decode and prefill speed of hipserve's CPU forward against llama.cpp
// (node-llama-cpp's prebuilt CPU binary) on the same ~110M-parameter Llama
// GGUF (f16 and Q8_0), in the same run, next to the machine's measured read
// bandwidth and the batch-1 decode roofline (bandwidth / bytes of weights).
// Prints a table; asserts nothing. Run: node --import tsx bench/decode.ts
//
// The roofline's bandwidth is SUSTAINED: right after each batch-1 decode run,
// a buffer of the weights' size is read back to back as many times as the run
// had steps (ops.readBandwidth(bytes, 2, steps)); the best such reading of
// the model's runs is used. A decode run is a sustained rate over ~1 s, so
// its yardstick is one too, taken in the same minutes. The burst reading
// (best of 8 single reads of 1 GiB) is printed beside it.
//
// Best decode over best read pairs two maxima taken up to a minute apart,
// and this VM's read rate swings by a third from one minute to the next. So
// batch 1 is also reported PAIRED: RUNS_PER_PAIR batch-1 runs back to back
// (REPS pairs above plus EXTRA_PAIRS more) against the mean of the same
// sustained read taken just before and just after them; the median of those
// ratios (and their range) is printed beside the unpaired one. Each read is
// the best of 4 windows as long as a run (readBandwidth), so each side of a
// pair is the best of 4 windows too: the best of the pair's runs. Until
// 2026-12-06 one run faced the best of 4 reads, which counted the read's
// window-to-window noise for it and against decode (on the Zen 4 VM the
// same runs gave a median 0.78 against their first run, 0.89 against their
// best; bench/README.md). That one-run ratio is still printed, as `first`.
//
// SAME-MOMENT (since 2026-12-07): the pairs above still put up to a second
// between a read and a run, and this VM's rate moves within that. So batch
// 1 is also measured call by call: right after each decode call (a few
// steps, as the engine groups them) the model's own matrices are read as
// many times as the call ran steps (readWeights: the same bytes, in the
// step's order, on the same pool), and the call's wall time is compared
// with the read's: decode tok/s over the roofline of that moment. The read
// takes each of the probe's four patterns in turn; per pattern the median
// over the calls is taken, and the reported ratio is the lowest of the four
// medians (the fastest pattern as the yardstick). A run's first call is left
// out (it follows the prefill and goes through the async entry).
//
// TASK CEILING (since 2026-12-07): a batch-1 step cannot read its weights
// as one unbroken stream per thread: its 85 matrices go through 49 GEMV
// tasks (q|k|v, o, gate|up, down per layer, then lm_head), each waiting for
// the one before. readWeights' 'tasks' pattern reads the same bytes in those
// same tasks with nothing else; TASK_PAIRS reads of it, each right after an
// unbroken 'stream' read, give the ceiling that structure leaves (median of
// the pairs' rate ratios), and the same-moment rotation also takes 'tasks',
// giving the forward against it (kept out of the roofline's yardstick).
// The CPU (family, model) is printed first: this VM kind has come as Zen 4
// (family 25) and as Zen 5 (family 26), whose read rates differ by 2x.
//
// PLACEMENT (since 2026-12-07 02:40 UTC): the Zen 5 VM's two vCPUs pass a
// cache line to each other in ~60-150 ns at some moments and ~450-900 ns at
// others, and the two-thread read runs at ~25-35 GB/s with the first and
// ~50-80 GB/s with the second: the host moves them between one CCD
// (shared bandwidth, near caches) and two (twice the bandwidth, every
// hand-off between the threads several times slower). So each same-moment
// run and each group of task-ceiling pairs is bracketed by the pool's round
// trip (ops.poolRoundTrip; stretches whose two trips disagree are left
// out), and both are also reported split at NEAR_NS: the
// roofline's ratio differs between the two placements, and a table that
// does not say which one it ran in cannot be compared with another.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { loadModel, ops, readWeights, releaseModel, type ModelHandle, type ReadPattern } from '../src/native.js';
import { readGguf } from '../src/models/gguf-reader.js';
import { getPeer, type PeerModel } from '../test/peer/llama-peer.js';
import { nativeGreedy } from '../test/peer/native-greedy.js';
import { benchModel, type BenchDType } from './models.js';

const PREFILL = 512;
const DECODE_STEPS = 64;
const BATCH = 8;
const BATCH_STEPS = 32;

function prompt(len: number, k: number): number[] {
  return [1, ...Array.from({ length: len - 1 }, (_, i) => 100 + ((i * 7919 + k * 104729) % 31000))];
}

/**
 * GB/s from the addon's streaming read (ops.readBandwidth): a burst reading
 * of 1 GiB, or with `passes` the sustained rate over that many reads of
 * `bytes`. A JS Float64Array sum when the addon lacks it.
 */
function readBandwidth(threads: number, bytes = 1 << 30, passes?: number): { gbps: number; how: string } {
  const fn = (ops() as Record<string, unknown>).readBandwidth;
  if (typeof fn === 'function') {
    const r = (fn as (bytes: number, threads: number, passes?: number) => unknown)(bytes, threads, passes);
    const v = typeof r === 'object' && r !== null && 'ok' in r ? (r as { ok: boolean; value?: unknown }).value : r;
    const gbps = typeof v === 'object' && v !== null && 'gbPerSecond' in v ? v.gbPerSecond : v;
    if (typeof gbps === 'number') return { gbps, how: `ops.readBandwidth, ${String(threads)} thread(s)` };
  }
  const a = new Float64Array(1 << 27);
  a.fill(1);
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i];
    best = Math.min(best, performance.now() - t0);
    if (s < 0) console.log(s);
  }
  return { gbps: a.byteLength / best / 1e6, how: 'JS Float64Array sum, 1 thread (addon has no readBandwidth)' };
}

interface Speeds {
  prefill: number;
  decode1: number;
  decode8: number;
}

interface OurSpeeds extends Speeds {
  /** Best sustained read (GB/s) of a weights-sized buffer, taken right after each batch-1 run. */
  sustainedGbps: number;
  /** Each pair's best batch-1 run's tok/s over the roofline of the reads just before and after its runs. */
  pairedRatios: number[];
  /** The same with each pair's first run alone (the estimator used until 2026-12-06). */
  firstRatios: number[];
  /** Per read pattern, each decode call's ratio against the read of the weights right after it (SAME-MOMENT). */
  sameMoment: Record<ReadPattern, number[]>;
  /** The pool's round trip (ns) around each of those calls' runs, same indices; NaN if the placement moved (PLACEMENT). */
  sameMomentRt: Record<ReadPattern, number[]>;
  /** Rate of a 'tasks' read over the 'stream' read just before it, per pair (TASK CEILING). */
  taskCeiling: number[];
  /** The pool's round trip (ns) around each of those pairs' groups; NaN if the placement moved. */
  taskCeilingRt: number[];
}

// Each engine's metrics are the best of several runs: on a shared VM a run
// can lose a third to a neighbour. hipserve gets REPS runs; llama.cpp gets
// PEER_REPS runs at each of 1 and 2 threads (never fewer chances than ours).
const REPS = 3;
const PEER_REPS = 2;
// Batch-1 pairs beyond REPS that only feed the paired ratio (see the top).
const EXTRA_PAIRS = 2;
// Batch-1 runs between the two reads of a pair, as many as a read's windows.
const RUNS_PER_PAIR = 4;
// Batch-1 runs read call by call against the weights (SAME-MOMENT above).
const SAME_MOMENT_RUNS = 6;
const PATTERNS: ReadPattern[] = ['stream', 'stream-prefetch', 'chunks', 'chunks-prefetch'];
// The same-moment rotation: the roofline's patterns, then the step's tasks.
const ROTATION: ReadPattern[] = [...PATTERNS, 'tasks'];
// Pairs of reads ('stream' then 'tasks') for the task ceiling (see the top).
const TASK_PAIRS = 40;
const TASK_PASSES = 8;
// A pool round trip below this is taken as both vCPUs on one CCD (PLACEMENT
// above): ~60-150 ns there on the Zen 5 VM, ~450-900 ns across two.
const NEAR_NS = 250;
const RT_ROUNDS = 500;
// Task-ceiling pairs between two round trips.
const TASK_PAIRS_PER_PLACEMENT = 8;

/** One round trip for a stretch measured before and after it, NaN if the two disagree about the placement. */
function placementOf(before: number, after: number): number {
  return before < NEAR_NS === after < NEAR_NS ? (before + after) / 2 : NaN;
}

/** The cache-line round trip (ns) between the default pool's two threads, or NaN with one thread. */
function poolRoundTrip(rounds = RT_ROUNDS): number {
  const fn = (ops() as Record<string, unknown>).poolRoundTrip;
  if (typeof fn !== 'function') return NaN; // an addon build from before the probe
  const r = (fn as (rounds: number) => { ok: boolean; value?: { nanoseconds: number | null } })(rounds);
  return r.ok && typeof r.value?.nanoseconds === 'number' ? r.value.nanoseconds : NaN;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** The CPU as /proc/cpuinfo names it, with its family and model (Linux), else os.cpus(). */
function cpuName(): string {
  const name = cpus()[0]?.model.trim() ?? 'unknown CPU';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (key: string): string | undefined => new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
    const family = field('cpu family');
    const model = field('model');
    if (family !== undefined && model !== undefined) return `${name}, family ${family} model ${model}, ${String(cpus().length)} logical CPUs`;
  } catch {
    // not Linux: the name alone
  }
  return `${name}, ${String(cpus().length)} logical CPUs`;
}

/** Seconds `passes` reads of the model's own matrices take (readWeights), or a thrown error. */
function readSeconds(h: ModelHandle, passes: number, pattern: ReadPattern): number {
  const read = readWeights(h, { passes, pattern });
  if (!read.ok) throw new Error(`readWeights failed: ${read.error.message}`);
  return read.value.seconds;
}

function bestOf(runs: Speeds[]): Speeds {
  return {
    prefill: Math.max(...runs.map((r) => r.prefill)),
    decode1: Math.max(...runs.map((r) => r.decode1)),
    decode8: Math.max(...runs.map((r) => r.decode8)),
  };
}

async function hipserve(path: string, bytes: number): Promise<OurSpeeds> {
  const r = await loadModel(path, { device: 'cpu' });
  if (!r.ok) throw new Error(`hipserve cannot load ${path}: ${r.error.message}`);
  const h = r.value.handle;
  try {
    await nativeGreedy(h, [prompt(16, 0)], { steps: 4 }); // warm-up: page the weights in
    const runs: Speeds[] = [];
    let sustainedGbps = 0;
    const pairedRatios: number[] = [];
    const firstRatios: number[] = [];
    // RUNS_PER_PAIR batch-1 runs between two sustained reads; returns the
    // first run's tok/s (the table's, so that hipserve gets no more chances
    // than the peer's runs) and the read after them.
    const pairedDecode = async (): Promise<{ tps: number; after: number }> => {
      const before = readBandwidth(2, bytes, DECODE_STEPS).gbps;
      const tps: number[] = [];
      let steps = DECODE_STEPS;
      for (let run = 0; run < RUNS_PER_PAIR; run++) {
        // No logprobs: the peer computes none, and neither does a request without `logprobs`.
        const d1 = await nativeGreedy(h, [prompt(16, 2)], { steps: DECODE_STEPS + 1, topN: -1 });
        tps.push(d1.decodeSteps / (d1.decodeMs / 1000));
        steps = d1.decodeSteps;
      }
      const after = readBandwidth(2, bytes, steps).gbps;
      const roofline = (((before + after) / 2) * 1e9) / bytes;
      pairedRatios.push(Math.max(...tps) / roofline);
      firstRatios.push(tps[0] / roofline);
      return { tps: tps[0], after };
    };
    for (let rep = 0; rep < REPS; rep++) {
      const pre = await nativeGreedy(h, [prompt(PREFILL, 1)], { steps: 1, topN: -1 });
      const d1 = await pairedDecode();
      sustainedGbps = Math.max(sustainedGbps, d1.after);
      const prompts = Array.from({ length: BATCH }, (_, k) => prompt(16, 3 + k));
      const d8 = await nativeGreedy(h, prompts, { steps: BATCH_STEPS + 1, topN: -1 });
      runs.push({
        prefill: PREFILL / (pre.prefillMs / 1000),
        decode1: d1.tps,
        decode8: (BATCH * d8.decodeSteps) / (d8.decodeMs / 1000),
      });
    }
    for (let rep = 0; rep < EXTRA_PAIRS; rep++) await pairedDecode();
    const sameMoment = Object.fromEntries(ROTATION.map((p) => [p, [] as number[]])) as Record<ReadPattern, number[]>;
    const sameMomentRt = Object.fromEntries(ROTATION.map((p) => [p, [] as number[]])) as Record<ReadPattern, number[]>;
    let calls = 0;
    for (let rep = 0; rep < SAME_MOMENT_RUNS; rep++) {
      // The placement is taken around the run, not between its calls (PLACEMENT above).
      const before = poolRoundTrip();
      const patterns: ReadPattern[] = [];
      await nativeGreedy(h, [prompt(16, 2)], {
        steps: DECODE_STEPS + 1,
        topN: -1,
        afterCall: (steps, ms, index) => {
          if (index === 0) return;
          const pattern = ROTATION[calls++ % ROTATION.length];
          // (steps / ms) over (passes / read ms), passes = steps
          sameMoment[pattern].push((readSeconds(h, steps, pattern) * 1000) / ms);
          patterns.push(pattern);
        },
      });
      const rt = placementOf(before, poolRoundTrip());
      for (const p of patterns) sameMomentRt[p].push(rt);
    }
    const taskCeiling: number[] = [];
    const taskCeilingRt: number[] = [];
    for (let pair = 0; pair < TASK_PAIRS; pair += TASK_PAIRS_PER_PLACEMENT) {
      const before = poolRoundTrip();
      const n = Math.min(TASK_PAIRS_PER_PLACEMENT, TASK_PAIRS - pair);
      for (let i = 0; i < n; i++) {
        const whole = readSeconds(h, TASK_PASSES, 'stream');
        taskCeiling.push(whole / readSeconds(h, TASK_PASSES, 'tasks'));
      }
      const rt = placementOf(before, poolRoundTrip());
      for (let i = 0; i < n; i++) taskCeilingRt.push(rt);
    }
    return { ...bestOf(runs), sustainedGbps, pairedRatios, firstRatios, sameMoment, sameMomentRt, taskCeiling, taskCeilingRt };
  } finally {
    releaseModel(h);
  }
}

async function peerRun(model: PeerModel, threads: number): Promise<Speeds> {
  const ctx = await model.createContext({ contextSize: 1024, batchSize: PREFILL, threads });
  let prefill = 0;
  let decode1 = 0;
  try {
    const seq = ctx.getSequence();
    await seq.evaluateWithoutGeneratingNewTokens(prompt(16, 0)); // warm-up
    await seq.clearHistory();
    let t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt(PREFILL, 1));
    prefill = PREFILL / ((performance.now() - t0) / 1000);
    await seq.clearHistory();
    const toks: number[] = [];
    t0 = 0;
    for await (const tok of seq.evaluate(prompt(16, 2), { temperature: 0 })) {
      if (toks.push(tok) === 1) t0 = performance.now(); // the first token closes the prefill
      if (toks.length > DECODE_STEPS) break;
    }
    decode1 = DECODE_STEPS / ((performance.now() - t0) / 1000);
  } finally {
    await ctx.dispose();
  }
  // Batch 8: eight sequences of one context; node-llama-cpp evaluates the
  // sequences' pending tokens together in one llama_decode batch.
  const ctx8 = await model.createContext({ contextSize: 1024, sequences: BATCH, batchSize: PREFILL, threads });
  try {
    const firsts: number[] = [];
    let end = 0;
    await Promise.all(
      Array.from({ length: BATCH }, async (_, k) => {
        const seq = ctx8.getSequence();
        const toks: number[] = [];
        for await (const tok of seq.evaluate(prompt(16, 3 + k), { temperature: 0 })) {
          if (toks.push(tok) === 1) firsts.push(performance.now());
          if (toks.length > BATCH_STEPS) break;
        }
        end = Math.max(end, performance.now());
      }),
    );
    const decode8 = (BATCH * BATCH_STEPS) / ((end - Math.max(...firsts)) / 1000);
    return { prefill, decode1, decode8 };
  } finally {
    await ctx8.dispose();
  }
}

async function llamaCpp(path: string): Promise<Speeds & { threads: Record<keyof Speeds, number> }> {
  const llama = await getPeer();
  const model = await llama.loadModel({ modelPath: path });
  try {
    const runs: [number, Speeds][] = [];
    for (const threads of [1, 2]) {
      for (let rep = 0; rep < PEER_REPS; rep++) runs.push([threads, await peerRun(model, threads)]);
    }
    const best = (k: keyof Speeds): [number, number] => runs.map(([th, s]): [number, number] => [s[k], th]).reduce((a, b) => (b[0] > a[0] ? b : a));
    const [prefill, tp] = best('prefill');
    const [decode1, t1] = best('decode1');
    const [decode8, t8] = best('decode8');
    return { prefill, decode1, decode8, threads: { prefill: tp, decode1: t1, decode8: t8 } };
  } finally {
    await model.dispose();
  }
}

const f1 = (x: number): string => x.toFixed(1);
const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;

// Burst bandwidth is measured at the start and after each model (printed for
// reference); the roofline uses each model's sustained reading (see the top).
const levels = ops() as unknown as { simdLevel(): { value: string }; decodePrefetch(): { value: boolean } };
console.log(`cpu: ${cpuName()}; SIMD ${levels.simdLevel().value}, software prefetch at batch 1 ${levels.decodePrefetch().value ? 'on' : 'off'}`);
const rt0 = Array.from({ length: 5 }, () => poolRoundTrip());
console.log(`pool threads' cache-line round trip (PLACEMENT, see the top): ${rt0.map((x) => x.toFixed(0)).join(' ')} ns`);
const bw1 = readBandwidth(1);
const bw2 = readBandwidth(2);
let bw = Math.max(bw1.gbps, bw2.gbps);
console.log(`memory read bandwidth (burst): ${f1(bw1.gbps)} GB/s (${bw1.how}), ${f1(bw2.gbps)} GB/s (${bw2.how})`);
const lines = [
  row(['model', 'weights MB', 'roofline tok/s (sustained read)', 'metric', 'hipserve tok/s', 'llama.cpp tok/s (threads)', 'hipserve / llama.cpp', 'hipserve / roofline', 'paired (best of 4 runs vs best of 4 reads), median (range)', 'same moment (call by call vs the fastest read pattern)', 'task ceiling (the same reads in the step\'s GEMV tasks vs unbroken)', 'same moment vs the task-split read']),
  row(['---', '---:', '---:', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
];
const measured: { dtype: BenchDType; bytes: number; ours: OurSpeeds; peer: Awaited<ReturnType<typeof llamaCpp>> }[] = [];
for (const dtype of ['f16', 'q8_0'] as BenchDType[]) {
  const path = await benchModel(dtype);
  const bytes = readGguf(path).tensors.reduce((a, t) => a + (t.size ?? 0), 0);
  const ours = await hipserve(path, bytes);
  const peer = await llamaCpp(path);
  bw = Math.max(bw, readBandwidth(2).gbps);
  measured.push({ dtype, bytes, ours, peer });
  console.log(`${dtype}: hipserve decode batch 1 ${f1(ours.decode1)} tok/s, llama.cpp ${f1(peer.decode1)}; sustained read ${f1(ours.sustainedGbps)} GB/s`);
}
// The lowest of the patterns' medians: decode against the fastest read.
const sameMomentRatio = (sm: Record<ReadPattern, number[]>): number => Math.min(...PATTERNS.map((p) => median(sm[p])));
const sameMomentCell = (sm: Record<ReadPattern, number[]>): string =>
  `${sameMomentRatio(sm).toFixed(2)} (${String(PATTERNS.reduce((a, p) => a + sm[p].length, 0))} calls)`;
const pairedCell = (rs: number[]): string =>
  `${median(rs).toFixed(2)} (${Math.min(...rs).toFixed(2)}-${Math.max(...rs).toFixed(2)}, ${String(rs.length)} runs)`;
const burstNotes: string[] = [];
for (const { dtype, bytes, ours, peer } of measured) {
  const roofline = (ours.sustainedGbps * 1e9) / bytes;
  const burstRoofline = (bw * 1e9) / bytes;
  burstNotes.push(`${dtype}: roofline ${f1(burstRoofline)} tok/s at the burst bandwidth, hipserve batch 1 at ${(ours.decode1 / burstRoofline).toFixed(2)} of it`);
  for (const k of ['decode1', 'decode8', 'prefill'] as const) {
    const label = { decode1: 'decode, batch 1', decode8: `decode, batch ${String(BATCH)}`, prefill: `prefill ${String(PREFILL)} tokens` }[k];
    lines.push(
      row([
        `110M llama ${dtype}`,
        (bytes / 1e6).toFixed(0),
        f1(roofline),
        label,
        f1(ours[k]),
        `${f1(peer[k])} (${String(peer.threads[k])})`,
        (ours[k] / peer[k]).toFixed(2),
        k === 'decode1' ? (ours[k] / roofline).toFixed(2) : '',
        k === 'decode1' ? pairedCell(ours.pairedRatios) : '',
        k === 'decode1' ? sameMomentCell(ours.sameMoment) : '',
        k === 'decode1' ? median(ours.taskCeiling).toFixed(2) : '',
        k === 'decode1' ? median(ours.sameMoment.tasks).toFixed(2) : '',
      ]),
    );
  }
}
console.log(`\nsustained read bandwidth (the roofline's): ${measured.map((m) => `${m.dtype} ${f1(m.ours.sustainedGbps)} GB/s`).join(', ')}`);
console.log(`batch 1 paired with the reads around each pair's runs (see the top): ${measured.map((m) => `${m.dtype} ${m.ours.pairedRatios.map((r) => r.toFixed(2)).join(' ')}`).join('; ')}`);
console.log(`the same, each pair's first run alone: ${measured.map((m) => `${m.dtype} median ${median(m.ours.firstRatios).toFixed(2)} (${m.ours.firstRatios.map((r) => r.toFixed(2)).join(' ')})`).join('; ')}`);
console.log(
  `batch 1 at the same moment, median per read pattern (see the top): ${measured
    .map((m) => `${m.dtype} ${sameMomentRatio(m.ours.sameMoment).toFixed(2)} (${PATTERNS.map((p) => `${p} ${median(m.ours.sameMoment[p]).toFixed(2)}`).join(', ')})`)
    .join('; ')}`,
);
console.log(
  `task ceiling, a 'tasks' read over the 'stream' read before it (see the top): ${measured
    .map((m) => `${m.dtype} median ${median(m.ours.taskCeiling).toFixed(3)} (quartiles ${quantile(m.ours.taskCeiling, 0.25).toFixed(3)}-${quantile(m.ours.taskCeiling, 0.75).toFixed(3)}, ${String(m.ours.taskCeiling.length)} pairs); batch 1 vs the 'tasks' read at the same moment ${median(m.ours.sameMoment.tasks).toFixed(2)}`)
    .join('; ')}`,
);
// PLACEMENT: the same figures split by the round trip taken with each.
const split = (xs: number[], rts: number[], near: boolean): number[] =>
  xs.filter((_, i) => Number.isFinite(rts[i]) && (rts[i] < NEAR_NS) === near);
const placementCell = (sm: Record<ReadPattern, number[]>, rt: Record<ReadPattern, number[]>, near: boolean): string => {
  const groups = PATTERNS.map((p) => split(sm[p], rt[p], near)).filter((g) => g.length > 0);
  const calls = groups.reduce((a, g) => a + g.length, 0);
  if (calls === 0) return 'no calls';
  const rts = ROTATION.flatMap((p) => split(rt[p], rt[p], near));
  const tasks = split(sm.tasks, rt.tasks, near);
  return `same moment ${Math.min(...groups.map(median)).toFixed(2)} (${String(calls)} calls, round trip median ${median(rts).toFixed(0)} ns)${tasks.length > 0 ? `, vs the task read ${median(tasks).toFixed(2)}` : ''}`;
};
const ceilingCell = (o: OurSpeeds, near: boolean): string => {
  const c = split(o.taskCeiling, o.taskCeilingRt, near);
  return c.length > 0 ? `task ceiling ${median(c).toFixed(3)} (${String(c.length)} pairs)` : 'task ceiling: no pairs';
};
console.log(
  `by placement (pool round trip below / from ${String(NEAR_NS)} ns: one CCD / two; see the top): ${measured
    .map((m) => `${m.dtype} one CCD: ${placementCell(m.ours.sameMoment, m.ours.sameMomentRt, true)}; ${ceilingCell(m.ours, true)} | two CCDs: ${placementCell(m.ours.sameMoment, m.ours.sameMomentRt, false)}; ${ceilingCell(m.ours, false)}`)
    .join(' || ')}`,
);
console.log(`best burst read bandwidth over the run: ${f1(bw)} GB/s; ${burstNotes.join('; ')}`);
console.log(`\n${lines.join('\n')}`);
