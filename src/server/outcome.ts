// One generation of a route, from the engine's outputs to the client, the
// same for completions and chat: its abort (client gone, timeout), its
// choices, and how it ends: a JSON response, an SSE stream (with a timeout
// error event, or nothing once the client is gone), or a dropped reply.

import type { FastifyReply } from 'fastify';
import type { EmbedSpec, SamplingParams, TokenGuide } from '../engine/types.js';
import { GuideError } from '../guided/xgrammar.js';
import { requestAbort, type RequestAbort } from './abort.js';
import { Choices } from './choices.js';
import type { ServerContext } from './context.js';
import { badRequest, HttpError, queueFull, type OpenAIErrorBody } from './errors.js';
import { toHttpError } from './error-map.js';
import { disposeGuideSets, runPrompts, type TaggedOutput } from './generation.js';
import type { OutputFormat } from './output-format.js';
import { DATA_FRAMING, sendSse, type SseFraming } from './sse.js';

function isQueueFull(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'HIPSERVE_ERR_QUEUE_FULL';
}

/** Throws the error to report if the request was aborted, or returns false when nobody is listening. */
function afterRun(abort: RequestAbort, timeoutS: number): boolean {
  const why = abort.reason();
  if (why === 'timeout') throw new HttpError('request_timeout', [timeoutS]);
  // A cancelled background run still has its store to write to.
  return why !== 'client_disconnect';
}

/** For a stream: the error event to send, or null if the client is gone. */
function streamError(abort: RequestAbort, timeoutS: number, err: unknown, requestId: string): OpenAIErrorBody | null {
  const why = abort.reason();
  if (why === 'client_disconnect') return null;
  if (why === 'timeout') return new HttpError('request_timeout', [timeoutS]).body();
  return toHttpError(err, requestId).body();
}

export interface StreamShape {
  /** Chunks sent before the first output (chat: each choice's role). */
  head?: Iterable<object>;
  /** The chunks one output becomes (its deltas are booked into the run's choices before them). */
  chunks: (o: TaggedOutput) => Iterable<object>;
  /** stream_options.include_usage: the last chunk, once every choice has finished. */
  usage: ((choices: Choices) => object) | null;
  /** After the last output (and the usage chunk): the Responses API's closing events. */
  tail?: (choices: Choices) => Iterable<object>;
  /** How chunks are framed; completions' and chat's `data:` lines and [DONE] unless given. */
  framing?: SseFraming<object>;
}

/**
 * A prompt-only run's request ended without its result (an embedding's
 * vector, a classifier's token): only the engine's abort does that, the
 * drain at shutdown (503); anything else is a bug (500) told by `what`.
 */
export function endedWithout(ctx: ServerContext, what: string): never {
  if (ctx.state.shuttingDown) throw new HttpError('shutting_down');
  throw new Error(what);
}

export class RouteRun {
  private readonly abort: RequestAbort;
  /** Choice i * n + j is prompt i's choice j, as OpenAI numbers them. */
  readonly choices: Choices;
  private outputs: AsyncGenerator<TaggedOutput> | null = null;
  private readonly timeoutS: number;
  /** Set before start(): an embedding run (/v1/embeddings), whose prompts are pooled; its params carry n and priority only. */
  embed: EmbedSpec | null = null;

  /**
   * Arms the request's abort (client gone, timeout). Construct it before
   * the first await of the route, so a client that leaves while its prompt
   * is being tokenized is seen; then start() the run.
   */
  constructor(
    private readonly ctx: ServerContext,
    private readonly reply: FastifyReply,
    n: number,
  ) {
    this.timeoutS = ctx.config.requestTimeoutS;
    this.abort = requestAbort(reply, this.timeoutS, (why) => { ctx.metrics.abort(why); });
    this.choices = new Choices(n, ctx.config.enablePromptTokensDetails);
  }

  /**
   * Runs `prepare` (tokenizing, prompt checks; it may say how each guide
   * is wrapped, once the prompt is known), then submits its prompts
   * (each with `params` and its own `promptParams` over them, at most
   * `maxTokens` new tokens). The errors of
   * `prepare` and the engine's synchronous validation errors are thrown
   * from here, before anything is sent, and leave nothing running; a full
   * queue at submission is a 429. Returns false when the client left before
   * submission: nothing was submitted and the reply has been dropped (the
   * route returns `reply`). A timeout before submission throws its 408.
   */
  async start(
    prepare: () => Promise<{ prompts: number[][]; maxTokens: number; wrapGuide?: (g: TokenGuide) => TokenGuide; promptParams?: readonly Partial<SamplingParams>[] }>,
    params: Omit<Partial<SamplingParams>, 'maxTokens'> & Pick<SamplingParams, 'n'>,
    id: string,
    /** response_format (or vLLM's guided fields): the grammar each prompt's choices are held to. */
    format: OutputFormat | null = null,
  ): Promise<boolean> {
    const { ctx, abort } = this;
    let guides: TokenGuide[][] | null = null;
    const dropGuides = (): void => {
      disposeGuideSets(guides ?? []);
      guides = null;
    };
    try {
      const { prompts, maxTokens, wrapGuide, promptParams } = await prepare();
      if (format !== null && !abort.signal.aborted) {
        guides = await this.guides(format, prompts.length, params.n);
        if (wrapGuide !== undefined) guides = guides.map((set) => set.map(wrapGuide));
      }
      if (abort.signal.aborted) {
        dropGuides();
        abort.dispose();
        afterRun(abort, this.timeoutS); // a timeout: its 408
        this.drop();
        return false;
      }
      // The queue may have filled while this request was tokenized. Checked
      // for all its sequences at once, so a multi-prompt request is not half
      // submitted; the engine enforces the bound again in generate().
      if (!ctx.engine.canAdmit(prompts.length * params.n)) throw Object.assign(new Error('queue full'), { code: 'HIPSERVE_ERR_QUEUE_FULL' });
      this.choices.promptTokens = prompts.reduce((a, p) => a + p.length, 0);
      const handed = guides;
      guides = null; // runPrompts owns them now
      this.outputs = runPrompts(ctx.engine, prompts, this.embed === null ? { ...params, maxTokens } : params, abort.signal, id, { guides: handed, embed: this.embed, perPrompt: promptParams ?? null });
      return true;
    } catch (err) {
      dropGuides();
      abort.dispose();
      // Nobody is left to read an error: drop the reply quietly.
      if (abort.reason() === 'client_disconnect') {
        this.drop();
        return false;
      }
      if (isQueueFull(err)) {
        ctx.metrics.rejected.inc();
        throw queueFull(ctx.engine.stats().numWaiting);
      }
      throw err;
    }
  }

  /** A set of guides per prompt; a format the engine cannot guide, or a schema that does not compile, is a 400. */
  private async guides(format: OutputFormat, numPrompts: number, n: number): Promise<TokenGuide[][]> {
    const engine = this.ctx.engine;
    if (engine.guided === undefined) throw badRequest(`${format.field} is not supported by this engine.`, format.field);
    const sets: TokenGuide[][] = [];
    try {
      for (let i = 0; i < numPrompts; i++) sets.push(await engine.guided(format.spec, n));
    } catch (err) {
      disposeGuideSets(sets);
      if (err instanceof GuideError) throw badRequest(err.message.endsWith('.') ? err.message : `${err.message}.`, format.field);
      throw err;
    }
    return sets;
  }

  private get started(): AsyncGenerator<TaggedOutput> {
    if (this.outputs === null) throw new Error('RouteRun: start() first');
    return this.outputs;
  }

  /** The run outlives its HTTP request (a background response): the client leaving no longer aborts it. */
  detach(): void {
    this.abort.detach();
  }

  /** Ends a detached run (its outputs end with finish reason abort); collect() still returns what it had. */
  cancel(): void {
    this.abort.cancel();
  }

  /** Whether the run was cancelled (cancel()). */
  get cancelled(): boolean {
    return this.abort.reason() === 'cancelled';
  }

  /** No response for a client that is gone: the socket is closed without a word (and without Fastify's logging). */
  private drop(): void {
    this.reply.hijack();
    this.reply.raw.destroy();
  }

  /** The run as an SSE stream; the abort is disposed however the stream ends. */
  stream(requestId: string, shape: StreamShape): FastifyReply {
    const { abort, timeoutS, choices } = this;
    const outputs = this.started;
    const book = (o: TaggedOutput): void => { this.book(o); };
    async function* chunks(): AsyncGenerator<object> {
      try {
        if (shape.head) yield* shape.head;
        for await (const o of outputs) {
          // Booked first: a chunk with continuous usage counts its own tokens.
          book(o);
          yield* shape.chunks(o);
        }
        afterRun(abort, timeoutS);
        if (shape.usage) yield shape.usage(choices);
        if (shape.tail) yield* shape.tail(choices);
      } finally {
        abort.dispose();
      }
    }
    return sendSse(this.reply, chunks(), (err) => streamError(abort, timeoutS, err, requestId), shape.framing ?? DATA_FRAMING);
  }

  /**
   * A non-streaming run to its end, every delta into `choices`. True when
   * there is a client to answer; false when it is gone (the reply is
   * dropped). A timeout throws its error; an engine error thrown while
   * nobody aborted is rethrown. `onOutput` sees each output once it is
   * booked (a background response keeps its stored state current).
   */
  async collect(onOutput?: (o: TaggedOutput) => void): Promise<boolean> {
    try {
      for await (const o of this.started) {
        this.book(o);
        onOutput?.(o);
      }
    } catch (err) {
      if (!this.abort.signal.aborted) throw err;
    } finally {
      this.abort.dispose();
    }
    if (afterRun(this.abort, this.timeoutS)) return true;
    this.drop();
    return false;
  }

  /** An output's deltas into the choices (choice i * n + j: prompt i's choice j). */
  private book({ promptIndex, output }: TaggedOutput): void {
    this.choices.notePrompt(promptIndex, output);
    for (const d of output.deltas) this.choices.add(this.choices.indexOf(promptIndex, d), d);
  }
}
