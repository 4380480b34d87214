// The engine's live requests and their choices (by the scheduler's id for
// each), and every way a request ends: a choice finished, the request
// settled (emitted, and retired once every choice is done), aborted, or
// failed with an error its caller's iterator throws.
import type { Scheduler } from '../scheduler/interface.js';
import { EngineError } from './errors.js';
import type { GuideBook } from './guides.js';
import type { ChoiceState, RequestState } from './request-state.js';
import type { EngineLogger, FinishReason, FinishedRequestInfo } from './types.js';

export class RequestTable {
  private readonly requests = new Map<string, RequestState>();
  private readonly choicesBySchedId = new Map<string, ChoiceState>();
  /** Live choices whose bans can change inside a multi-step call (a thinking budget, bad words): stepCap. */
  private readonly capped = new Set<ChoiceState>();

  /** `onFinished` gets each retired request's timings (the metrics). */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly guides: GuideBook,
    private readonly log: Pick<EngineLogger, 'warn' | 'error'>,
    private readonly onFinished: (info: FinishedRequestInfo) => void,
  ) {}

  has(requestId: string): boolean {
    return this.requests.has(requestId);
  }

  requestIds(): string[] {
    return [...this.requests.keys()];
  }

  /** The live choice the scheduler knows as `schedId`; undefined once it finished. */
  choice(schedId: string): ChoiceState | undefined {
    return this.choicesBySchedId.get(schedId);
  }

  /**
   * The most steps one call may run without passing a point where a live
   * choice's bans change (ChoiceState.stepCap; at least 1; Infinity: no limit).
   */
  stepCap(): number {
    let cap = Infinity;
    for (const c of this.capped) cap = Math.min(cap, c.stepCap());
    return cap;
  }

  /** Registers a request whose choices are built; their guides become live. */
  add(state: RequestState): void {
    for (const c of state.choices) {
      this.guides.adopt(c.guide);
      if (c.budget !== null || c.badWords !== null) this.capped.add(c);
      this.choicesBySchedId.set(c.schedId, c);
    }
    this.requests.set(state.requestId, state);
  }

  finishChoice(c: ChoiceState, reason: FinishReason, stopReason: string | number | null): void {
    c.finishReason = reason;
    c.stopReason = stopReason;
    this.guides.release(c.guide);
    this.capped.delete(c);
    this.scheduler.finish(c.schedId, reason);
    this.choicesBySchedId.delete(c.schedId);
  }

  /** Emits what the request has and, once every choice is done, retires it. */
  settle(st: RequestState): void {
    st.emit();
    if (!st.finished || !this.requests.has(st.requestId)) return;
    this.requests.delete(st.requestId);
    this.onFinished(st.finish(performance.now()));
  }

  abort(requestId: string): void {
    const state = this.requests.get(requestId);
    if (!state) return;
    for (const c of state.choices) {
      if (c.finishReason === null) this.finishChoice(c, 'abort', null);
    }
    this.settle(state);
  }

  /** Fails the request of a live choice (see failRequest); nothing if it already ended. */
  failChoice(schedId: string, err: EngineError): void {
    const c = this.choicesBySchedId.get(schedId);
    if (c) this.failRequest(c.parent, err);
  }

  /** Ends every choice of the request (their blocks go back) and throws `err` from its outputs. */
  failRequest(st: RequestState, err: EngineError): void {
    this.log.warn({ requestId: st.requestId, reason: err.message }, 'request failed');
    for (const other of st.choices) {
      if (other.finishReason === null) this.finishChoice(other, 'abort', null);
      other.reported = true;
    }
    this.requests.delete(st.requestId);
    st.queue.fail(err);
  }

  /**
   * The loop keeps crashing (LoopSupervisor): every request still here fails
   * now rather than at --request-timeout. The scheduler may be what is
   * broken, so a request whose choices it cannot finish still gets its error.
   */
  failPending(reason: string): void {
    const err = new EngineError('HIPSERVE_ERR_ENGINE_LOOP', reason);
    for (const st of [...this.requests.values()]) {
      try {
        this.failRequest(st, err);
      } catch (schedErr) {
        this.log.error({ requestId: st.requestId, err: schedErr }, 'the scheduler could not finish a failed request');
        for (const c of st.choices) {
          c.reported = true;
          this.guides.release(c.guide);
          this.capped.delete(c);
          this.choicesBySchedId.delete(c.schedId);
        }
        this.requests.delete(st.requestId);
        st.queue.fail(err);
      }
    }
  }
}
