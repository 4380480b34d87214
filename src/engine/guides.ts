// The engine's book of grammar guides (response_format and the like,
// src/guided/): the grammar compiler, built on first use from the
// tokenizer's vocabulary; which choices' guides are live (while any is, the
// engine runs one step a call: a guide's bans hold for one token); each
// guide refreshed after its choice's token and disposed when it ends.
import { GuideError, GuideFactory } from '../guided/xgrammar.js';
import { EngineError } from './errors.js';
import type { ChoiceState } from './request-state.js';
import type { GuideSpec, ModelInfo, SamplingParams, TokenGuide, TokenizerApi } from './types.js';

export class GuideBook {
  private factory: Promise<GuideFactory> | null = null;
  private readonly live = new Set<TokenGuide>();

  constructor(
    private readonly tokenizer: TokenizerApi,
    private readonly model: ModelInfo,
  ) {}

  /** Whether a live choice has a guide. */
  get active(): boolean {
    return this.live.size > 0;
  }

  /** `n` guides for `spec` (Engine.guided); a tokenizer that cannot guide, or a format that does not compile, is a GuideError. */
  async make(spec: GuideSpec, n: number): Promise<TokenGuide[]> {
    if (this.factory === null) {
      const tok = this.tokenizer;
      if (tok.guidedVocab === undefined) throw new GuideError('this model\'s tokenizer cannot be used for guided decoding');
      this.factory = GuideFactory.create({ ...tok.guidedVocab(), vocabSize: this.model.vocabSize, stopTokenIds: [...this.model.eosTokenIds] });
      this.factory.catch(() => { this.factory = null; });
    }
    return (await this.factory).guides(spec, n);
  }

  /** A request's guides against its parameters, before any is adopted. */
  check(guides: readonly TokenGuide[], params: SamplingParams): void {
    if (guides.length !== params.n) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', `${guides.length} guides for ${params.n} choices`, 'n');
    // The grammar may allow only EOS (its text complete): a ban on EOS would leave nothing to sample.
    if (params.minTokens > 0) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', 'min_tokens cannot be combined with a guided output (response_format, guided_*, structured_outputs or tool_choice)', 'min_tokens');
    if ((params.allowedTokenIds ?? null) !== null) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', 'allowed_token_ids cannot be combined with a guided output (response_format, guided_*, structured_outputs or tool_choice)', 'allowed_token_ids');
    if ((params.badWords ?? []).length > 0) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', 'bad_words cannot be combined with a guided output (response_format, guided_*, structured_outputs or tool_choice)', 'bad_words');
    if (params.ignoreEos) throw new EngineError('HIPSERVE_ERR_INVALID_PARAM', 'ignore_eos cannot be combined with a guided output (response_format, guided_*, structured_outputs or tool_choice)', 'ignore_eos');
  }

  /** A choice's guide is live from here until release(). */
  adopt(guide: TokenGuide | null): void {
    if (guide !== null) this.live.add(guide);
  }

  /** Disposes a choice's guide once (its choice ended). */
  release(guide: TokenGuide | null): void {
    if (guide === null || !this.live.delete(guide)) return;
    guide.dispose();
  }

  /** What the guided choices among `fresh` may sample next, once their new tokens are in the grammar. */
  async refresh(fresh: readonly [ChoiceState, number][]): Promise<void> {
    for (const [c] of fresh) {
      if (c.guide === null || c.finishReason !== null || !this.live.has(c.guide)) continue;
      await c.guide.refresh();
      c.updateBanned();
    }
  }

  /** Frees the compiler (engine close); live guides are released with their choices. */
  async close(): Promise<void> {
    const factory = this.factory;
    this.factory = null;
    if (factory !== null) await factory.then((f) => { f.dispose(); }, () => undefined);
  }
}
