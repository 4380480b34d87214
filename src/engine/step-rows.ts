// What a step returns besides sampled tokens, booked into its requests:
// prompt logprobs (echo) and hidden states (embeddings).
import type { SchedulerOutput } from '../scheduler/interface.js';
import type { PromptRows, StepResult } from '../runner/runner.js';
import { bookEmbeddings } from './embedding.js';
import { EngineError } from './errors.js';
import type { RequestTable } from './request-table.js';
import type { TokenizerApi } from './types.js';

/** Books prompt logprobs (echo) into their requests; a choice that has all of them stops asking. */
export function applyPromptRows(table: RequestTable, tokenizer: TokenizerApi, out: SchedulerOutput, rows: PromptRows): void {
  out.seqs.forEach((s, i) => {
    const c = table.choice(s.requestId);
    if (c?.sampling.promptTopN === undefined) return;
    const from = rows.queryStart[i];
    if (c.parent.bookPromptRows(tokenizer, rows, from, rows.queryStart[i + 1] - from, s.startPos)) {
      delete c.sampling.promptTopN;
    }
  });
}

/**
 * Books hidden rows into embedding requests; one whose prompt is done ends
 * with its vector (one final output). Returns their prompt tokens, which
 * the metrics count as vLLM counts a pooling request's.
 */
export function applyEmbeddings(table: RequestTable, out: SchedulerOutput, res: StepResult): number {
  let promptTokens = 0;
  for (const [st, vec] of bookEmbeddings(out.seqs, res.hidden, (id) => table.choice(id)?.parent)) {
    if (vec === null) {
      table.failRequest(st, new EngineError('HIPSERVE_ERR_NATIVE', 'the forward returned no hidden states for an embedding'));
      continue;
    }
    st.embedding = vec;
    promptTokens += st.promptTokenIds.length;
    table.finishChoice(st.choices[0], 'stop', null);
    table.settle(st);
  }
  return promptTokens;
}
