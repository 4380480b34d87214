// forward(model, kv, step) -> Promise<Result<StepOutput>>, run on a libuv
// worker thread; forwardSync(model, kv, step) -> Result<StepOutput>, run on
// the calling (JS) thread. Step layout in native/README.md. One forward at a
// time per model, whichever the entry: a second call while one runs gives
// HIPSERVE_E_BUSY at once (it does not wait).
//
// Why a synchronous entry: on a host with as many cores as pool threads, the
// async path has three threads (JS, the libuv worker driving the pool, the
// pool's workers) wanting the cores around each step, and two cross-thread
// wake-ups per step. For a short step (a decode of a small model: a few ms)
// that costs 10-15% of the step; the JS side picks the entry per step by
// its predicted length (src/runner/forward-policy.ts).
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "bindings/args.h"
#include "bindings/bindings.h"
#include "bindings/guard.h"
#include "bindings/handles.h"
#include "hip_emu/device_backend.h"
#include "model/forward.h"
#include "result.h"

namespace hs {

namespace {

void read_step(Napi::Object o, StepInput* s) {
  copy_i32(o, "tokenIds", &s->token_ids);
  copy_i32(o, "positions", &s->positions);
  copy_i32(o, "queryStart", &s->query_start);
  copy_i32(o, "seqLens", &s->seq_lens);
  copy_i32(o, "blockTables", &s->block_tables);
  s->max_blocks = static_cast<int32_t>(req_int(o, "maxBlocksPerSeq", 0, 1 << 24));
  copy_i32(o, "slotMapping", &s->slot_mapping);
  copy_u8(o, "doSample", &s->do_sample);
  copy_f32(o, "temperature", &s->temperature);
  copy_f32(o, "topP", &s->top_p);
  copy_i32(o, "topK", &s->top_k);
  copy_f32(o, "minP", &s->min_p);
  copy_f32(o, "presencePenalty", &s->presence_penalty);
  copy_f32(o, "frequencyPenalty", &s->frequency_penalty);
  copy_f32(o, "repetitionPenalty", &s->repetition_penalty);
  copy_u64(o, "seeds", &s->seeds);
  copy_i32(o, "sampleIndex", &s->sample_index);
  copy_i32(o, "numLogprobs", &s->num_logprobs);
  // The flat token lists may be left out: empty lists, all offsets 0.
  const size_t S = s->query_start.empty() ? 0 : s->query_start.size() - 1;
  auto flat = [&](const char* list, const char* start, std::vector<int32_t>* l, std::vector<int32_t>* st) {
    copy_i32(o, list, l, true);
    copy_i32(o, start, st, true);
    if (st->empty() && l->empty() && o.Get(start).IsUndefined()) st->assign(S + 1, 0);
  };
  flat("outputTokens", "outputStart", &s->output_tokens, &s->output_start);
  flat("promptTokens", "promptStart", &s->prompt_tokens, &s->prompt_start);
  flat("bannedTokens", "bannedStart", &s->banned_tokens, &s->banned_start);
  flat("biasTokens", "biasStart", &s->bias_tokens, &s->bias_start);
  copy_f32(o, "biasValues", &s->bias_values, true);
  copy_i32(o, "promptTargets", &s->prompt_targets, true);
  copy_i32(o, "numPromptLogprobs", &s->num_prompt_logprobs, true);
  copy_u8(o, "embedRows", &s->embed_rows, true);
}

// The optional multi-step members (native/README.md); all absent: one step.
void read_multi(Napi::Object o, MultiStep* ms) {
  if (!o.Get("numSteps").IsUndefined()) ms->num_steps = static_cast<int32_t>(req_int(o, "numSteps", 0, 1 << 24));
  copy_i32(o, "stopTokens", &ms->stop_tokens, true);
  copy_i32(o, "stopStart", &ms->stop_start, true);
  copy_i32(o, "maxSteps", &ms->max_steps, true);
  copy_i32(o, "banSteps", &ms->ban_steps, true);
}

Status run_step(Model& m, const KvCache& kv, const StepInput& s, const MultiStep& ms, StepOutput* out) {
  return run_steps(m, kv, s, ms, m.device ? run_device_forward : run_forward, out);
}

Napi::Object step_result(Napi::Env env, const Status& st, const StepOutput& out) {
  if (!st.ok()) return make_error(env, st.error());
  Napi::Object v = Napi::Object::New(env);
  v.Set("sampled", to_i32(env, out.sampled));
  v.Set("logprob", to_f32(env, out.logprob));
  v.Set("topN", Napi::Number::New(env, out.top_n));
  v.Set("topIds", to_i32(env, out.top_ids));
  v.Set("topLogprobs", to_f32(env, out.top_logprobs));
  v.Set("steps", Napi::Number::New(env, out.steps));
  if (!out.prompt_logprob.empty()) {  // only a step with prompt targets: no cost for the others
    v.Set("promptTopN", Napi::Number::New(env, out.prompt_top_n));
    v.Set("promptLogprob", to_f32(env, out.prompt_logprob));
    v.Set("promptRank", to_i32(env, out.prompt_rank));
    v.Set("promptTopIds", to_i32(env, out.prompt_top_ids));
    v.Set("promptTopLogprobs", to_f32(env, out.prompt_top_logprobs));
  }
  if (!out.hidden.empty()) v.Set("hidden", to_f32(env, out.hidden));
  Napi::Object t = Napi::Object::New(env);
  t.Set("forwardMs", Napi::Number::New(env, out.forward_ms));
  t.Set("sampleMs", Napi::Number::New(env, out.sample_ms));
  v.Set("timings", t);
  return make_ok(env, v);
}

class ForwardWorker : public Napi::AsyncWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<Model> m, std::shared_ptr<KvCache> kv)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), model_(std::move(m)), kv_(std::move(kv)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  StepInput& step() { return step_; }
  MultiStep& multi() { return multi_; }

  void Execute() override {
    // No V8 here: the step was copied in the constructor's caller; the model
    // and cache are kept alive by the shared_ptrs this worker holds. An
    // exception (bad_alloc growing scratch) is an error, as in forwardSync.
    try {
      status_ = run_step(*model_, *kv_, step_, multi_, &out_);
    } catch (...) {
      status_ = exception_error("forward");
    }
  }
  void OnOK() override {
    model_->busy.store(false);
    try {
      deferred_.Resolve(step_result(Env(), status_, out_));
    } catch (const Napi::Error&) {
      throw;
    } catch (...) {
      deferred_.Resolve(make_error(Env(), exception_error("forward")));
    }
  }
  void OnError(const Napi::Error& e) override {
    model_->busy.store(false);
    deferred_.Resolve(make_error(Env(), make_err(Code::INTERNAL, e.Message(), "forward")));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Model> model_;
  std::shared_ptr<KvCache> kv_;
  StepInput step_;
  MultiStep multi_;
  StepOutput out_;
  Status status_;
};

// Both entries: a released handle is an INVALID_ARGUMENT Result.
Status live_handles(const ModelHolder* mh, const KvHolder* kh, const char* where) {
  if (!mh->model) return make_err(Code::INVALID_ARGUMENT, "the model handle was released", where);
  if (!kh->kv) return make_err(Code::INVALID_ARGUMENT, "the KV cache handle was released", where);
  return Status();
}

Error busy_error(const char* where) {
  return make_err(Code::BUSY, "a forward pass of this model is already running", where);
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelHolder* mh = unwrap_model(env, info.Length() > 0 ? info[0] : env.Undefined());
  KvHolder* kh = unwrap_kv(env, info.Length() > 1 ? info[1] : env.Undefined());
  Napi::Object step = arg_object(info, 2, "step");
  auto resolved = [&](const Error& e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(make_error(env, e));
    return d.Promise();
  };
  const Status live = live_handles(mh, kh, "forward");
  if (!live.ok()) return resolved(live.error());
  auto* w = new ForwardWorker(env, mh->model, kh->kv);
  try {
    read_step(step, &w->step());  // throws TypeError on a wrong type
    read_multi(step, &w->multi());
  } catch (...) {
    delete w;  // never queued
    throw;
  }
  if (mh->model->busy.exchange(true)) {
    delete w;
    return resolved(busy_error("forward"));
  }
  Napi::Promise p = w->Promise();
  w->Queue();  // libuv owns and deletes the worker after OnOK/OnError
  return p;
}

// The same step on the calling thread. Blocks the JS event loop for the
// whole step: the caller decides when that is short enough.
Napi::Value ForwardSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelHolder* mh = unwrap_model(env, info.Length() > 0 ? info[0] : env.Undefined());
  KvHolder* kh = unwrap_kv(env, info.Length() > 1 ? info[1] : env.Undefined());
  Napi::Object step = arg_object(info, 2, "step");
  const Status live = live_handles(mh, kh, "forwardSync");
  if (!live.ok()) return make_error(env, live.error());
  StepInput in;
  MultiStep ms;
  read_step(step, &in);  // throws TypeError on a wrong type
  read_multi(step, &ms);
  // Own references for the call, as the async worker holds them (no JS can
  // run a release while this thread is inside the call anyway).
  std::shared_ptr<Model> model = mh->model;
  std::shared_ptr<KvCache> kv = kh->kv;
  if (model->busy.exchange(true)) {
    return make_error(env, busy_error("forwardSync"));
  }
  StepOutput out;
  Status st;
  try {
    st = run_step(*model, *kv, in, ms, &out);
  } catch (...) {  // e.g. bad_alloc growing scratch: an error, and the model stays usable
    st = exception_error("forwardSync");
  }
  model->busy.store(false);
  return step_result(env, st, out);
}

// readWeights(model, { passes, pattern? }): `passes` back-to-back reads of
// the matrices a decode step reads (each layer's q, k, v, o, gate, up and
// down, then lm_head; the packed copy where there is one), in that order, on
// the model's pool, timed as one -> { gbPerSecond, bytes, seconds }. The
// patterns: ops.readBandwidth's four over the matrices laid end to end,
// 'stream' (one range per thread, as the GEMVs split), 'stream-prefetch',
// 'chunks' (shared-counter chunks), 'chunks-prefetch'; and 'tasks': the
// matrices in the batch-1 step's GEMV tasks (q|k|v, o, gate|up, down per
// layer, then lm_head), each task after the one before, one range per
// thread within it: the step's reads and syncs without its arithmetic.
// bench/decode.ts reads the roofline's bandwidth this way between decode
// calls, the same bytes at the same moment. Not while a forward of the
// model runs (BUSY, as a second forward).
Napi::Value ReadWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelHolder* mh = unwrap_model(env, info.Length() > 0 ? info[0] : env.Undefined());
  Napi::Object o = arg_object(info, 1, "opts");
  const int64_t passes = req_int(o, "passes", 1, 100000);
  const std::string pattern = opt_string(o, "pattern", "stream");
  if (!mh->model) return make_error(env, make_err(Code::INVALID_ARGUMENT, "the model handle was released", "readWeights"));
  const bool prefetch = pattern == "stream-prefetch" || pattern == "chunks-prefetch";
  const bool chunks = pattern == "chunks" || pattern == "chunks-prefetch";
  const bool tasks = pattern == "tasks";
  if (!prefetch && !chunks && !tasks && pattern != "stream") {
    return make_error(env, make_err(Code::INVALID_ARGUMENT,
                                    "pattern must be 'stream', 'stream-prefetch', 'chunks', 'chunks-prefetch' or "
                                    "'tasks', not '" + pattern + "'",
                                    "readWeights"));
  }
  std::shared_ptr<Model> m = mh->model;
  std::vector<cpu::ReadSpan> spans;
  int64_t bytes = 0;
  auto add = [&](const WeightView& w) {
    const void* p = w.packed != nullptr ? w.packed : w.data;
    if (p == nullptr || w.rows <= 0 || w.cols <= 0) return 0;
    cpu::ReadSpan sp;
    sp.p = static_cast<const uint8_t*>(p);
    // Invariant: a view holds rows * dtype_row_bytes bytes, packed or not (kernels.h).
    sp.bytes = w.rows * static_cast<int64_t>(dtype_row_bytes(w.dtype, w.cols));
    bytes += sp.bytes;
    spans.push_back(sp);
    return 1;
  };
  const std::vector<WeightView*> views = step_matrices(*m);
  // Spans per GEMV task (an empty matrix has none).
  std::vector<int32_t> task_spans = step_gemv_tasks(*m);
  for (size_t t = 0, v = 0; t < task_spans.size(); ++t) {
    int32_t n = 0;
    // Invariant: step_gemv_tasks adds up to views.size() (model.cc).
    for (int32_t i = 0; i < task_spans[t]; ++i) n += add(*views[v++]);
    task_spans[t] = n;
  }
  if (m->busy.exchange(true)) return make_error(env, busy_error("readWeights"));
  cpu::ThreadPool* pool = m->pool != nullptr ? m->pool : cpu::default_pool();
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t check = cpu::stream_read(pool, spans.data(), static_cast<int>(spans.size()), passes, prefetch,
                                          chunks ? cpu::kBalancedChunks : cpu::kStreamChunks,
                                          tasks ? task_spans.data() : nullptr, static_cast<int>(task_spans.size()));
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m->busy.store(false);
  Napi::Object v = Napi::Object::New(env);
  v.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes)));
  v.Set("seconds", Napi::Number::New(env, sec));
  v.Set("gbPerSecond", Napi::Number::New(env, sec > 0 ? static_cast<double>(bytes * passes) / sec / 1e9 : 0.0));
  v.Set("checksum", Napi::Number::New(env, static_cast<double>(check & 0xffff)));
  return make_ok(env, v);
}

// forwardProgress(model) -> a number that moves while a forward of the model
// runs (model.h, Model::progress); the same number until one runs again.
Napi::Value ForwardProgress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelHolder* mh = unwrap_model(env, info.Length() > 0 ? info[0] : env.Undefined());
  if (!mh->model) return make_error(env, make_err(Code::INVALID_ARGUMENT, "the model handle was released", "forwardProgress"));
  return make_ok(env, Napi::Number::New(env, static_cast<double>(mh->model->progress.load(std::memory_order_relaxed))));
}

}  // namespace

void RegisterForwardExports(Napi::Env env, Napi::Object exports) {
  exports.Set("forward", HS_GUARDED(env, Forward, "forward", Returns::Promise));
  exports.Set("forwardSync", HS_GUARDED(env, ForwardSync, "forwardSync", Returns::Result));
  exports.Set("readWeights", HS_GUARDED(env, ReadWeights, "readWeights", Returns::Result));
  exports.Set("forwardProgress", HS_GUARDED(env, ForwardProgress, "forwardProgress", Returns::Result));
}

}  // namespace hs
