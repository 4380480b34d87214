// loadModel(path, { device?, threads?, maxBatchedTokens?, kvCacheDtype? }) -> Promise<Result<{ handle, info }>>,
// (maxBatchedTokens: device backends reserve activation memory for that many tokens per step;
// kvCacheDtype: 'auto' (f16 on the CPU, f32 on a device), 'f16' (CPU only) or 'f32'),
// releaseModel(handle) -> Result<boolean>, ggufMetadata(path) -> Result<object>.
#include <string>

#include "bindings/args.h"
#include "bindings/bindings.h"
#include "bindings/guard.h"
#include "bindings/handles.h"
#include "hip_emu/device_backend.h"
#include "model/gguf.h"
#include "registry.h"
#include "result.h"

namespace hs {

namespace {

Napi::Object model_info(Napi::Env env, const Model& m) {
  const ModelConfig& c = m.cfg;
  Napi::Object o = Napi::Object::New(env);
  o.Set("architecture", c.architecture);
  o.Set("format", c.format);
  o.Set("dtype", dtype_name(m.dtype));
  o.Set("vocabSize", Napi::Number::New(env, static_cast<double>(c.vocab_size)));
  o.Set("hiddenSize", Napi::Number::New(env, static_cast<double>(c.hidden_size)));
  o.Set("numLayers", Napi::Number::New(env, static_cast<double>(c.num_layers)));
  o.Set("numHeads", Napi::Number::New(env, static_cast<double>(c.num_heads)));
  o.Set("numKvHeads", Napi::Number::New(env, static_cast<double>(c.num_kv_heads)));
  o.Set("headDim", Napi::Number::New(env, static_cast<double>(c.head_dim)));
  o.Set("intermediateSize", Napi::Number::New(env, static_cast<double>(c.intermediate_size)));
  o.Set("maxPositionEmbeddings", Napi::Number::New(env, static_cast<double>(c.max_position_embeddings)));
  o.Set("ropeTheta", Napi::Number::New(env, c.rope_theta));
  o.Set("rmsNormEps", Napi::Number::New(env, c.rms_norm_eps));
  o.Set("tieWordEmbeddings", Napi::Boolean::New(env, c.tie_word_embeddings));
  o.Set("bosTokenId", Napi::Number::New(env, c.bos_token_id));
  Napi::Array eos = Napi::Array::New(env, c.eos_token_ids.size());
  for (size_t i = 0; i < c.eos_token_ids.size(); ++i) eos.Set(static_cast<uint32_t>(i), Napi::Number::New(env, c.eos_token_ids[i]));
  o.Set("eosTokenIds", eos);
  o.Set("ropeStyle", c.rope.style == cpu::RopeStyle::Interleaved ? "interleaved" : "neox");
  o.Set("backend", m.backend);
  o.Set("threads", Napi::Number::New(env, m.pool != nullptr ? cpu::pool_threads(m.pool) : 0));
  // "memory": the weight files were read into (huge-page) memory; "mmap": mapped (HIPSERVE_WEIGHTS).
  bool copied = !m.tensors.files.empty();
  for (const auto& f : m.tensors.files) copied = copied && f->copied();
  o.Set("weights", copied ? "memory" : "mmap");
  // Bytes of matrices held in the 16-row packed layout (cpu::pack_weights); 0: none.
  o.Set("packedBytes", Napi::Number::New(env, static_cast<double>(m.packed_bytes)));
  o.Set("kvCacheDtype", dtype_name(m.kv_dtype));
  if (m.device) {
    // Device backends: what the engine sizes the KV pool from.
    auto mem = m.device->memory();
    if (mem.ok()) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("totalBytes", Napi::Number::New(env, static_cast<double>(mem.value().total)));
      d.Set("freeBytes", Napi::Number::New(env, static_cast<double>(mem.value().free)));
      d.Set("weightBytes", Napi::Number::New(env, static_cast<double>(mem.value().weights)));
      d.Set("scratchBytes", Napi::Number::New(env, static_cast<double>(mem.value().scratch)));
      o.Set("deviceMemory", d);
    }
  }
  return o;
}

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, std::string backend, int32_t threads, int64_t reserve_tokens,
             DType kv_dtype)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)),
        backend_(std::move(backend)), threads_(threads), reserve_tokens_(reserve_tokens), kv_dtype_(kv_dtype),
        result_(make_err(Code::INTERNAL, "not run", "loadModel")) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    // node-addon-api would turn a std::exception into OnError's INTERNAL
    // error naming no file (and anything else into std::terminate): keep
    // every exception here, as an error naming the model path.
    try {
      run();
    } catch (...) {
      Error e = exception_error(path_);
      e.message += " while loading the model (a corrupt file can claim sizes that cannot be allocated)";
      result_ = e;
    }
  }
  void run() {
    // No V8 here: only the copied path/options and the loader.
    // A device uploads the weights: its host copy stays a map.
    result_ = load_model(path_, is_device_backend(backend_) ? FileHold::Map : FileHold::Weights);
    if (result_.ok()) {
      result_.value()->backend = backend_;
      result_.value()->kv_dtype = kv_dtype_;
      set_model_threads(result_.value().get(), threads_);
    }
    if (result_.ok() && is_device_backend(backend_)) {
      // The host model (mmap) stays: the device copy is built from it.
      auto dev = create_device_backend(*result_.value(), reserve_tokens_);
      if (dev.ok()) {
        result_.value()->device = std::move(dev.value());
      } else {
        result_ = dev.error();
      }
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!result_.ok()) {
      deferred_.Resolve(make_error(env, result_.error()));
      return;
    }
    try {
      Napi::Object v = Napi::Object::New(env);
      v.Set("info", model_info(env, *result_.value()));
      v.Set("handle", wrap_model(env, result_.value()));
      deferred_.Resolve(make_ok(env, v));
    } catch (const Napi::Error&) {
      throw;
    } catch (...) {
      deferred_.Resolve(make_error(env, exception_error(path_)));
    }
  }
  void OnError(const Napi::Error& e) override {
    deferred_.Resolve(make_error(Env(), make_err(Code::INTERNAL, e.Message(), "loadModel")));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_, backend_;
  int32_t threads_;
  int64_t reserve_tokens_;
  DType kv_dtype_;
  Result<std::shared_ptr<Model>> result_;
};

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = arg_string(info, 0, "path");
  std::string device = "auto", kv_dtype = "auto";
  double threads = 0, reserve = 2048;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    Napi::Object o = arg_object(info, 1, "options");
    device = opt_string(o, "device", "auto");
    threads = opt_number(o, "threads", 0);
    reserve = opt_number(o, "maxBatchedTokens", 2048);
    kv_dtype = opt_string(o, "kvCacheDtype", "auto");
  }
  auto deferred = Napi::Promise::Deferred::New(env);
  auto backend = select_backend(device);
  if (!backend.ok()) {
    deferred.Resolve(make_error(env, backend.error()));
    return deferred.Promise();
  }
  if (!(threads >= 0 && threads <= 256) || static_cast<double>(static_cast<int32_t>(threads)) != threads) {
    deferred.Resolve(make_error(env, make_err(Code::INVALID_ARGUMENT, "threads must be an integer in 0..256", "loadModel")));
    return deferred.Promise();
  }
  if (!(reserve >= 1 && reserve <= (1 << 20)) || static_cast<double>(static_cast<int64_t>(reserve)) != reserve) {
    deferred.Resolve(make_error(env, make_err(Code::INVALID_ARGUMENT, "maxBatchedTokens must be an integer in 1..2^20", "loadModel")));
    return deferred.Promise();
  }
  // The HIP kernels read an f32 cache; the CPU defaults to f16 (llama.cpp's default too).
  const bool device_backend = is_device_backend(backend.value().name);
  DType kv = device_backend ? DType::F32 : DType::F16;
  if (kv_dtype == "f32") {
    kv = DType::F32;
  } else if (kv_dtype == "f16" && device_backend) {
    deferred.Resolve(make_error(env, make_err(Code::UNSUPPORTED, "kvCacheDtype 'f16' is CPU only: the " + backend.value().name +
                                                                     " kernels read an f32 KV cache", "loadModel")));
    return deferred.Promise();
  } else if (kv_dtype != "f16" && kv_dtype != "auto") {
    deferred.Resolve(make_error(env, make_err(Code::INVALID_ARGUMENT, "kvCacheDtype must be 'auto', 'f16' or 'f32', not '" + kv_dtype + "'", "loadModel")));
    return deferred.Promise();
  }
  auto* w = new LoadWorker(env, path, backend.value().name, static_cast<int32_t>(threads), static_cast<int64_t>(reserve), kv);
  Napi::Promise p = w->Promise();
  w->Queue();  // libuv owns and deletes the worker after OnOK
  return p;
}

Napi::Value ReleaseModel(const Napi::CallbackInfo& info) {
  ModelHolder* h = unwrap_model(info.Env(), info.Length() > 0 ? info[0] : info.Env().Undefined());
  bool had = h->model != nullptr;
  h->model.reset();  // an in-flight forward keeps its own reference
  return make_ok(info.Env(), Napi::Boolean::New(info.Env(), had));
}

Napi::Value gguf_value(Napi::Env env, const GgufFile& f, const GgufValue& v) {
  switch (v.type) {
    case GgufType::STRING:
      return Napi::String::New(env, v.s);
    case GgufType::BOOL:
      return Napi::Boolean::New(env, v.u != 0);
    case GgufType::F32:
    case GgufType::F64:
      return Napi::Number::New(env, v.f);
    case GgufType::U64:
    case GgufType::I64:
      // Beyond 2^53 a Number would round: give a BigInt then.
      if (v.type == GgufType::U64 && v.u > (1ull << 53)) return Napi::BigInt::New(env, static_cast<uint64_t>(v.u));
      if (v.type == GgufType::I64 && (v.i > (1ll << 53) || v.i < -(1ll << 53))) return Napi::BigInt::New(env, static_cast<int64_t>(v.i));
      return Napi::Number::New(env, static_cast<double>(v.as_int()));
    case GgufType::ARRAY: {
      // Elements come from the mapping one at a time (read_gguf checked
      // them all): no C++ copy of the array is made.
      Napi::Array a = Napi::Array::New(env);
      uint32_t i = 0;
      Status st = gguf_array_items(f, v, [&](const GgufValue& e) { a.Set(i++, gguf_value(env, f, e)); });
      if (!st.ok()) throw Napi::Error::New(env, st.error().message);  // cannot happen: the array was validated
      return a;
    }
    default:
      return Napi::Number::New(env, v.as_double());
  }
}

Napi::Value gguf_metadata(Napi::Env env, const std::string& path);

Napi::Value GgufMetadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = arg_string(info, 0, "path");
  // Exceptions other than a Napi::Error become a Result naming the file.
  try {
    return gguf_metadata(env, path);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    return make_error(env, exception_error(path));
  }
}

Napi::Value gguf_metadata(Napi::Env env, const std::string& path) {
  auto g = read_gguf(path);
  if (!g.ok()) return make_error(env, g.error());
  const GgufFile& f = *g.value();
  Napi::Object meta = Napi::Object::New(env);
  for (size_t i = 0; i < f.keys.size(); ++i) meta.Set(f.keys[i], gguf_value(env, f, f.values[i]));
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", Napi::Number::New(env, f.version));
  out.Set("metadata", meta);
  Napi::Array tensors = Napi::Array::New(env);
  uint32_t k = 0;
  for (const auto& [name, t] : f.tensors.tensors) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", name);
    o.Set("dtype", t.dtype_label);
    Napi::Array shape = Napi::Array::New(env, t.shape.size());
    for (size_t d = 0; d < t.shape.size(); ++d) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(t.shape[d])));
    o.Set("shape", shape);
    tensors.Set(k++, o);
  }
  out.Set("tensors", tensors);
  return make_ok(env, out);
}

}  // namespace

void RegisterModelExports(Napi::Env env, Napi::Object exports) {
  exports.Set("loadModel", HS_GUARDED(env, LoadModel, "loadModel", Returns::Promise));
  exports.Set("releaseModel", HS_GUARDED(env, ReleaseModel, "releaseModel", Returns::Result));
  exports.Set("ggufMetadata", HS_GUARDED(env, GgufMetadata, "ggufMetadata", Returns::Result));
}

}  // namespace hs
