// The scheduler's own record of one request. The engine sees it only through
// SchedRequestView (read-only); the KV manager through KvSeq.

import type { BlockHash, KvSeq } from '../kvcache/types.js';
import type { SchedRequestInit, SchedRequestStatus, SchedRequestView } from './interface.js';

export class SchedRequest implements KvSeq, SchedRequestView {
  readonly id: string;
  readonly promptTokenIds: readonly number[];
  readonly outputTokenIds: number[] = [];
  /** Prompt then output: every known token. */
  readonly tokenIds: number[];
  readonly blockHashes: BlockHash[] = [];
  readonly maxTokens: number;
  readonly priority: number;
  readonly arrival: number;
  /** Insertion order: the last tie-breaker, so ordering is total and deterministic. */
  readonly seqNo: number;
  readonly skipPrefixCache: boolean;
  readonly promptOnly: boolean;
  numComputedTokens = 0;
  numCachedTokens = 0;
  numPreemptions = 0;
  status: SchedRequestStatus = 'waiting';

  constructor(init: SchedRequestInit, seqNo: number) {
    this.id = init.id;
    this.promptTokenIds = init.promptTokenIds.slice();
    this.tokenIds = init.promptTokenIds.slice();
    this.maxTokens = init.maxTokens;
    this.priority = init.priority ?? 0;
    this.arrival = init.arrival ?? seqNo;
    this.seqNo = seqNo;
    this.skipPrefixCache = init.skipPrefixCache ?? false;
    this.promptOnly = init.promptOnly ?? false;
  }

  get numTokens(): number {
    return this.tokenIds.length;
  }

  appendOutput(tokenId: number): void {
    this.outputTokenIds.push(tokenId);
    this.tokenIds.push(tokenId);
  }
}

/**
 * Total order of importance: negative when `a` should run before `b`.
 * With `usePriority` false (FCFS) the priority field is ignored.
 */
export function compareRequests(a: SchedRequest, b: SchedRequest, usePriority: boolean): number {
  if (usePriority && a.priority !== b.priority) return a.priority - b.priority;
  if (a.arrival !== b.arrival) return a.arrival - b.arrival;
  return a.seqNo - b.seqNo;
}
