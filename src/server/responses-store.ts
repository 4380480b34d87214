// Responses kept for previous_response_id and GET /v1/responses/{id}
// (--responses-store-size; off by default, as vLLM's store is): the
// newest N, in memory, the least recently used dropped first. Each keeps
// its response object and the conversation it ended (its input items,
// those of the responses before it, and its own output), so a response
// that names it as previous continues that conversation.

export interface StoredResponse {
  response: Record<string, unknown>;
  /** The conversation as Responses input items: the earlier ones', this input's, then this output. */
  items: unknown[];
  /** How many of `items` the response was generated from (GET .../input_items): all but its output. */
  inputCount: number;
  /** A background response still running: how to cancel it, and its end (the entry is replaced then). */
  running?: { cancel(): void; done: Promise<void> };
}

export class ResponseStore {
  private readonly map = new Map<string, StoredResponse>();

  constructor(readonly capacity: number) {}

  get enabled(): boolean {
    return this.capacity > 0;
  }

  get size(): number {
    return this.map.size;
  }

  /** The stored response, now the most recently used; undefined when none is kept under `id`. */
  get(id: string): StoredResponse | undefined {
    const r = this.map.get(id);
    if (r !== undefined) {
      this.map.delete(id);
      this.map.set(id, r);
    }
    return r;
  }

  put(id: string, stored: StoredResponse): void {
    if (!this.enabled) return;
    this.map.delete(id);
    this.map.set(id, stored);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.map.delete(oldest);
    }
  }

  delete(id: string): boolean {
    return this.map.delete(id);
  }
}
