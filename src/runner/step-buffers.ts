// Grow-only typed arrays reused from step to step, so packing a step makes no
// per-token JavaScript objects and no garbage once the buffers have grown to
// the workload. `view(n)` hands out a subarray of the first n elements.

type TypedCtor<A> = new (n: number) => A;

interface Sized {
  readonly length: number;
  subarray(begin?: number, end?: number): this;
}

export class Grow<A extends Sized> {
  private buf: A;
  constructor(
    private readonly ctor: TypedCtor<A>,
    initial = 64,
  ) {
    this.buf = new ctor(initial);
  }

  /** A zero-based view of at least n elements; contents are stale until written. */
  view(n: number): A {
    if (n > this.buf.length) {
      let cap = this.buf.length;
      while (cap < n) cap *= 2;
      this.buf = new this.ctor(cap);
    }
    return this.buf.subarray(0, n);
  }
}

/** All arrays of one step, named as in native/README.md. */
export class StepBuffers {
  readonly tokenIds = new Grow(Int32Array, 256);
  readonly positions = new Grow(Int32Array, 256);
  readonly slotMapping = new Grow(Int32Array, 256);
  readonly queryStart = new Grow(Int32Array);
  readonly seqLens = new Grow(Int32Array);
  readonly blockTables = new Grow(Int32Array, 1024);
  readonly doSample = new Grow(Uint8Array);
  readonly temperature = new Grow(Float32Array);
  readonly topP = new Grow(Float32Array);
  readonly topK = new Grow(Int32Array);
  readonly minP = new Grow(Float32Array);
  readonly presencePenalty = new Grow(Float32Array);
  readonly frequencyPenalty = new Grow(Float32Array);
  readonly repetitionPenalty = new Grow(Float32Array);
  readonly seeds = new Grow(BigUint64Array);
  readonly sampleIndex = new Grow(Int32Array);
  readonly numLogprobs = new Grow(Int32Array);
  readonly outputTokens = new Grow(Int32Array, 256);
  readonly outputStart = new Grow(Int32Array);
  readonly promptTokens = new Grow(Int32Array, 256);
  readonly promptStart = new Grow(Int32Array);
  readonly bannedTokens = new Grow(Int32Array);
  readonly bannedStart = new Grow(Int32Array);
  readonly biasTokens = new Grow(Int32Array);
  readonly biasValues = new Grow(Float32Array);
  readonly biasStart = new Grow(Int32Array);
  readonly promptTargets = new Grow(Int32Array, 256);
  readonly numPromptLogprobs = new Grow(Int32Array);
  readonly embedRows = new Grow(Uint8Array);
  readonly stopTokens = new Grow(Int32Array);
  readonly stopStart = new Grow(Int32Array);
  readonly maxSteps = new Grow(Int32Array);
  readonly banSteps = new Grow(Int32Array);
}
