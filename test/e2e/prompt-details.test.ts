// --enable-prompt-tokens-details (vLLM's): usage on completions and chat
// carries prompt_tokens_details.cached_tokens, the prompt tokens the prefix
// cache served; without the flag the field is absent, as in vLLM.
import t from 'tap';
import { startLive, noEos } from './helpers.js';

t.test('cached_tokens in usage, whole and streamed; absent by default', async (t) => {
  const live = await startLive({ arch: 'qwen3', engine: { maxModelLen: 1024 }, config: { enablePromptTokensDetails: true } });
  t.teardown(() => live.close());
  const client = live.client;
  const prompt = 'The prefix cache keeps whole blocks of sixteen tokens, so a prompt of some length is needed here to fill a few.';
  const first = await client.completions.create({ model: live.model, prompt, max_tokens: 3, temperature: 0, ...noEos });
  t.same(first.usage?.prompt_tokens_details, { cached_tokens: 0 }, 'a cold cache: nothing cached');
  const again = await client.completions.create({ model: live.model, prompt, max_tokens: 3, temperature: 0, ...noEos });
  const cached = again.usage?.prompt_tokens_details?.cached_tokens ?? 0;
  const promptTokens = again.usage?.prompt_tokens ?? 0;
  t.ok(cached > 0 && cached < promptTokens && cached % 16 === 0, `the same prompt again: ${cached} of ${promptTokens} cached, whole blocks`);

  const messages = [{ role: 'user' as const, content: prompt }];
  await client.chat.completions.create({ model: live.model, messages, max_completion_tokens: 2, ...noEos });
  const stream = await client.chat.completions.create({ model: live.model, messages, max_completion_tokens: 2, stream: true, stream_options: { include_usage: true }, ...noEos });
  let usage: unknown = null;
  for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
  const u = usage as { prompt_tokens: number; prompt_tokens_details?: { cached_tokens: number } } | null;
  t.ok((u?.prompt_tokens_details?.cached_tokens ?? 0) > 0, 'chat, streamed: the usage chunk counts the cached tokens');

  const plain = await startLive({ arch: 'qwen3', engine: { maxModelLen: 1024 } });
  t.teardown(() => plain.close());
  const r = await plain.client.completions.create({ model: plain.model, prompt, max_tokens: 2, ...noEos });
  t.notOk(r.usage !== undefined && 'prompt_tokens_details' in r.usage, 'off by default (vLLM\'s default)');
});
