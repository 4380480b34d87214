// background responses (OpenAI's Responses API; --responses-store-size):
// the POST answers at once with status queued and the run goes on without
// its client; GET shows it in progress with its text so far, then reads it
// back completed (or incomplete); cancel ends a
// running one with what it has written (status cancelled) and frees its
// blocks; DELETE of a running one cancels it first; the combinations a
// store-less or streamed request would need are 400s.
import t from 'tap';
import type OpenAI from 'openai';
import { noEos, poll, postJson, startLive } from './helpers.js';
import { waitFor } from '../helpers/wait.js';

type Params = OpenAI.Responses.ResponseCreateParamsNonStreaming;

t.test('background: queued, read back, cancelled', async (t) => {
  const live = await startLive({ arch: 'qwen3', engine: { maxModelLen: 4096, numBlocks: 512 }, config: { reasoningParser: 'none', responsesStoreSize: 8 } });
  t.teardown(() => live.close());
  const { client } = live;
  const opts = { model: live.model, input: 'Tell me a story.', temperature: 0, ...noEos };

  const queued = await client.responses.create({ ...opts, max_output_tokens: 24, background: true } as unknown as Params);
  t.match(queued, { status: 'queued', background: true, output: [] }, 'answered at once, queued');
  let done: OpenAI.Responses.Response = queued;
  t.ok(await poll(async () => !['queued', 'in_progress'].includes((done = await client.responses.retrieve(queued.id)).status ?? '')), 'it ends');
  t.match(done, { status: 'incomplete', background: true, usage: { output_tokens: 24 } }, 'GET: its whole output (max_output_tokens reached)');
  const same = await client.responses.create({ ...opts, max_output_tokens: 24 } as unknown as Params);
  t.equal(done.output_text, same.output_text, 'the same text as in the foreground (greedy)');
  t.same((await client.responses.cancel(queued.id)).status, 'incomplete', 'cancel of an ended one: it, unchanged');

  // A long one, cancelled while it runs.
  const long = await client.responses.create({ ...opts, max_output_tokens: 3000, background: true } as unknown as Params);
  await waitFor(() => live.engine.stats().numRunning === 1, 'the long one to run');
  // GET while it runs: in progress, with the text so far.
  let seen: OpenAI.Responses.Response | null = null;
  const textOf = (r: OpenAI.Responses.Response | null): string => JSON.stringify(r?.output ?? []);
  t.ok(await poll(async () => (seen = await client.responses.retrieve(long.id)).status === 'in_progress' && /output_text","text":"[^"]/.test(textOf(seen))), 'GET mid-run: in_progress, with text');
  t.match(seen, { status: 'in_progress', usage: null, output: [{ type: 'message', status: 'in_progress' }] });
  const early = await postJson(live.url, '/v1/responses', { ...opts, max_output_tokens: 2, previous_response_id: long.id });
  t.match([early.status, early.body], [400, { error: { param: 'previous_response_id', message: /still running/ } }], 'a running one cannot be continued yet');
  const cancelled = await client.responses.cancel(long.id);
  t.equal(cancelled.status, 'cancelled', 'cancel: status cancelled');
  t.ok((cancelled.usage?.output_tokens ?? 0) < 3000, `with what it had written (${cancelled.usage?.output_tokens ?? 0} tokens)`);
  t.equal((await client.responses.retrieve(long.id)).status, 'cancelled', 'and so it is read back');
  await waitFor(() => live.engine.stats().kvBlocksUsed === 0, 'its blocks to be freed');

  // DELETE of a running one cancels it first (or its end would store it again).
  const doomed = await client.responses.create({ ...opts, max_output_tokens: 3000, background: true } as unknown as Params);
  await waitFor(() => live.engine.stats().numRunning === 1, 'the doomed one to run');
  const del = await fetch(`${live.url}/v1/responses/${doomed.id}`, { method: 'DELETE' });
  t.same(await del.json(), { id: doomed.id, object: 'response', deleted: true });
  t.equal((await fetch(`${live.url}/v1/responses/${doomed.id}`)).status, 404, 'gone for good');
  t.equal(live.engine.stats().numRunning + live.engine.stats().numWaiting, 0, 'nothing left running');

  const fg = await client.responses.create({ ...opts, max_output_tokens: 2 } as unknown as Params);
  const notBg = await postJson(live.url, `/v1/responses/${fg.id}/cancel`, {});
  t.equal(notBg.status, 400, 'a foreground response cannot be cancelled');
  t.match(notBg.body, { error: { message: /not created with background/ } });
  t.equal((await postJson(live.url, '/v1/responses/resp_none/cancel', {})).status, 404);
  for (const [extra, message] of [[{ stream: true }, /cannot be combined with stream/], [{ store: false }, /needs store/]] as const) {
    const r = await postJson(live.url, '/v1/responses', { ...opts, background: true, ...extra });
    t.equal(r.status, 400, JSON.stringify(extra));
    t.match(r.body, { error: { param: 'background', message } });
  }
});

t.test('background without a store is a 400 naming the flag', async (t) => {
  const live = await startLive({ arch: 'qwen3', config: { reasoningParser: 'none' } });
  t.teardown(() => live.close());
  const r = await postJson(live.url, '/v1/responses', { model: live.model, input: 'x', background: true });
  t.equal(r.status, 400);
  t.match(r.body, { error: { param: 'background', message: /--responses-store-size/ } });
});
