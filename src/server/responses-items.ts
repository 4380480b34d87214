// GET /v1/responses/{id}/input_items: the items a stored response was
// generated from (the earlier responses' conversation, then its own input),
// as OpenAI lists them: each with an id (given at storage to the client's
// items that had none), a message's text as parts, newest first unless
// order=asc, paged by limit / after / before item ids.
import { isRecord } from '../is-record.js';
import { badRequest } from './errors.js';
import { itemId } from './responses-output.js';

/** The client's input items with an id each (kept where given), so a listing can page by them. */
export function withIds(items: readonly unknown[]): unknown[] {
  return items.map((item) => {
    if (!isRecord(item) || typeof item.id === 'string') return item;
    const type = item.type ?? 'message';
    const prefix = type === 'function_call' ? 'fc' : type === 'function_call_output' ? 'fco' : type === 'reasoning' ? 'rs' : 'msg';
    return { id: itemId(prefix), ...item };
  });
}

/** One listed item: a message as OpenAI returns it (type, status, text parts); other items as stored. */
function listed(item: unknown): unknown {
  if (!isRecord(item) || (item.type !== undefined && item.type !== 'message')) return item;
  const role = typeof item.role === 'string' ? item.role : 'user';
  const text = role === 'assistant' ? 'output_text' : 'input_text';
  const content = typeof item.content === 'string' ? [{ type: text, text: item.content }] : item.content;
  return { ...item, type: 'message', role, status: item.status ?? 'completed', content };
}

export interface ItemQuery {
  limit?: unknown;
  order?: unknown;
  after?: unknown;
  before?: unknown;
}

/** One page of `items` (oldest first, as stored) for the query, in OpenAI's list shape. */
export function listInputItems(items: readonly unknown[], q: ItemQuery): { object: 'list'; data: unknown[]; first_id: string | null; last_id: string | null; has_more: boolean } {
  const limit = q.limit === undefined ? 20 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw badRequest(`limit must be an integer in [1, 100], got ${JSON.stringify(q.limit)}.`, 'limit');
  const order = q.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw badRequest(`order must be "asc" or "desc", got ${JSON.stringify(order)}.`, 'order');
  const all = order === 'asc' ? [...items] : [...items].reverse();
  const idOf = (item: unknown): string | null => (isRecord(item) && typeof item.id === 'string' ? item.id : null);
  const at = (field: 'after' | 'before', id: unknown): number => {
    const k = typeof id === 'string' ? all.findIndex((item) => idOf(item) === id) : -1;
    if (k < 0) throw badRequest(`${field} ${JSON.stringify(id)} is not an item of this response.`, field);
    return k;
  };
  let from = 0;
  let to = all.length;
  if (q.after !== undefined) from = at('after', q.after) + 1;
  if (q.before !== undefined) to = at('before', q.before);
  // Before a cursor, the page is the items nearest it (as a page back from it).
  const start = q.before !== undefined && q.after === undefined ? Math.max(from, to - limit) : from;
  const page = all.slice(start, Math.min(to, start + limit)).map(listed);
  const hasMore = q.before !== undefined && q.after === undefined ? start > from : start + page.length < to;
  return { object: 'list', data: page, first_id: idOf(page[0]), last_id: idOf(page[page.length - 1]), has_more: hasMore };
}
