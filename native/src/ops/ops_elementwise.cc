// exports.ops: rmsnorm / rope / siluMul / add / addBias. Each returns a new
// array and leaves its inputs as they were.

#include "ops/args.h"

namespace hs {
namespace ops {
namespace {

// rmsnorm(x, weight, rows, dim, eps)
Napi::Value Rmsnorm(const Napi::CallbackInfo& info) {
  return run(info, "ops.rmsnorm", [&](Napi::Env env) -> Napi::Value {
    auto x = typed<float>(info[0], "x");
    auto w = typed<float>(info[1], "weight");
    const int64_t rows = count(info[2], "rows");
    const int64_t dim = count(info[3], "dim");
    const double eps = number(info[4], "eps");
    need(dim >= 1 && x.size == static_cast<size_t>(rows * dim), "x must hold rows*dim values");
    need(w.size == static_cast<size_t>(dim), "weight must hold dim values");
    need(eps >= 0, "eps must be >= 0");
    auto y = new_typed<float>(env, x.size);
    cpu::rmsnorm(x.data, w.data, y.Data(), rows, dim, static_cast<float>(eps));
    return y;
  });
}

double opt_number(Napi::Object o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? dflt : number(v, key);
}

}  // namespace

cpu::RopeParams rope_params(Napi::Value v, int64_t head_dim) {
  Napi::Object p = object(v, "params");
  cpu::RopeParams rp;
  rp.theta = static_cast<float>(opt_number(p, "theta", 10000.0));
  const std::string style = p.Get("style").IsUndefined() ? "neox" : str(p.Get("style"), "style");
  need(style == "neox" || style == "interleaved", "style must be 'neox' or 'interleaved'");
  rp.style = style == "neox" ? cpu::RopeStyle::Neox : cpu::RopeStyle::Interleaved;
  rp.rotary_dim = static_cast<int32_t>(opt_number(p, "rotaryDim", 0));
  rp.llama3_factor = static_cast<float>(opt_number(p, "llama3Factor", 0));
  rp.llama3_low_freq_factor = static_cast<float>(opt_number(p, "llama3LowFreqFactor", 1));
  rp.llama3_high_freq_factor = static_cast<float>(opt_number(p, "llama3HighFreqFactor", 4));
  rp.llama3_original_max_pos = static_cast<int32_t>(opt_number(p, "llama3OriginalMaxPos", 8192));
  need(head_dim >= 2 && head_dim % 2 == 0, "headDim must be even and >= 2");
  need(rp.rotary_dim >= 0 && rp.rotary_dim <= head_dim && rp.rotary_dim % 2 == 0,
       "rotaryDim must be even, within [0, headDim]");
  need(rp.theta > 0, "theta must be > 0");
  need(rp.llama3_factor == 0 || rp.llama3_high_freq_factor > rp.llama3_low_freq_factor,
       "llama3HighFreqFactor must exceed llama3LowFreqFactor");
  return rp;
}

namespace {

// rope(x [T][nHeads][headDim], positions [T], nHeads, headDim, params)
// params: { theta, style: 'neox'|'interleaved', rotaryDim?, llama3Factor?,
//           llama3LowFreqFactor?, llama3HighFreqFactor?, llama3OriginalMaxPos? }
Napi::Value Rope(const Napi::CallbackInfo& info) {
  return run(info, "ops.rope", [&](Napi::Env env) -> Napi::Value {
    auto x = typed<float>(info[0], "x");
    auto pos = typed<int32_t>(info[1], "positions");
    const int64_t heads = count(info[2], "nHeads");
    const int64_t hd = count(info[3], "headDim");
    const cpu::RopeParams rp = rope_params(info[4], hd);
    const int64_t T = static_cast<int64_t>(pos.size);
    need(x.size == static_cast<size_t>(T * heads * hd), "x must hold T*nHeads*headDim values");
    auto y = copy_of(env, x);
    cpu::rope(y.Data(), pos.data, T, heads, hd, rp);
    return y;
  });
}

Napi::Value SiluMul(const Napi::CallbackInfo& info) {
  return run(info, "ops.siluMul", [&](Napi::Env env) -> Napi::Value {
    auto g = typed<float>(info[0], "gate");
    auto u = typed<float>(info[1], "up");
    need(g.size == u.size, "gate and up must have the same length");
    auto y = new_typed<float>(env, g.size);
    cpu::silu_mul(g.data, u.data, y.Data(), static_cast<int64_t>(g.size));
    return y;
  });
}

Napi::Value Add(const Napi::CallbackInfo& info) {
  return run(info, "ops.add", [&](Napi::Env env) -> Napi::Value {
    auto a = typed<float>(info[0], "y");
    auto b = typed<float>(info[1], "x");
    need(a.size == b.size, "y and x must have the same length");
    auto y = copy_of(env, a);
    cpu::add_inplace(y.Data(), b.data, static_cast<int64_t>(a.size));
    return y;
  });
}

Napi::Value AddBias(const Napi::CallbackInfo& info) {
  return run(info, "ops.addBias", [&](Napi::Env env) -> Napi::Value {
    auto x = typed<float>(info[0], "x");
    auto b = typed<float>(info[1], "bias");
    const int64_t rows = count(info[2], "rows");
    const int64_t cols = count(info[3], "cols");
    need(x.size == static_cast<size_t>(rows * cols), "x must hold rows*cols values");
    need(b.size == static_cast<size_t>(cols), "bias must hold cols values");
    auto y = copy_of(env, x);
    cpu::add_bias(y.Data(), b.data, rows, cols);
    return y;
  });
}

}  // namespace

void RegisterElementwiseOps(Napi::Env env, Napi::Object o) {
  o.Set("rmsnorm", Napi::Function::New(env, Rmsnorm, "rmsnorm"));
  o.Set("rope", Napi::Function::New(env, Rope, "rope"));
  o.Set("siluMul", Napi::Function::New(env, SiluMul, "siluMul"));
  o.Set("add", Napi::Function::New(env, Add, "add"));
  o.Set("addBias", Napi::Function::New(env, AddBias, "addBias"));
}

}  // namespace ops
}  // namespace hs
