// exports.hipEmu kernel entries with the same arguments as exports.ops:
// rmsnorm / rope / siluMul / add / addBias / embed / gemv (= ops.matmul).
// Each uploads its inputs, launches one kernel of kernels/*.hip on the
// emulator, synchronizes and downloads the result.
#include <string>

#include "../../../kernels/launchers.h"
#include "hip_emu/bindings_util.h"

namespace hs {
namespace hipemu {
namespace {

using namespace hipk;

template <class T>
Napi::TypedArrayOf<T> fetch(Napi::Env env, const T* dev, size_t n, Status* st) {
  auto y = new_typed<T>(env, n);
  *st = download(y.Data(), dev, n * sizeof(T));
  return y;
}

Napi::Value Rmsnorm(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.rmsnorm", [&](Napi::Env env, Napi::Value* out) -> Status {
    auto x = typed<float>(info[0], "x");
    auto w = typed<float>(info[1], "weight");
    const int64_t rows = count(info[2], "rows");
    const int64_t dim = count(info[3], "dim");
    const double eps = number(info[4], "eps");
    need(dim >= 1 && x.size == static_cast<size_t>(rows * dim), "x must hold rows*dim values");
    need(w.size == static_cast<size_t>(dim), "weight must hold dim values");
    DeviceArena dev;
    HS_TRY(dx, dev.upload(x.data, x.size));
    HS_TRY(dw, dev.upload(w.data, w.size));
    HS_TRY(dy, dev.alloc<float>(x.size));
    HS_HIP_CHECK(launch_rmsnorm(nullptr, dx, dw, dy, rows, dim, static_cast<float>(eps)));
    HS_HIP_CHECK(hipDeviceSynchronize());
    Status st;
    *out = fetch(env, dy, x.size, &st);
    return st;
  });
}

double opt(Napi::Object o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? dflt : number(v, key);
}

Napi::Value Rope(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.rope", [&](Napi::Env env, Napi::Value* out) -> Status {
    auto x = typed<float>(info[0], "x");
    auto pos = typed<int32_t>(info[1], "positions");
    const int64_t heads = count(info[2], "nHeads");
    const int64_t hd = count(info[3], "headDim");
    Napi::Object p = object(info[4], "params");
    RopeArgs a;
    a.theta = static_cast<float>(opt(p, "theta", 10000.0));
    const std::string style =
        p.Get("style").IsUndefined() ? "neox" : ops::str(p.Get("style"), "style");
    need(style == "neox" || style == "interleaved", "style must be 'neox' or 'interleaved'");
    a.style = style == "neox" ? 0 : 1;
    a.rotary_dim = static_cast<int32_t>(opt(p, "rotaryDim", 0));
    a.llama3_factor = static_cast<float>(opt(p, "llama3Factor", 0));
    a.llama3_low = static_cast<float>(opt(p, "llama3LowFreqFactor", 1));
    a.llama3_high = static_cast<float>(opt(p, "llama3HighFreqFactor", 4));
    a.llama3_original_max_pos = static_cast<int32_t>(opt(p, "llama3OriginalMaxPos", 8192));
    const int64_t T = static_cast<int64_t>(pos.size);
    need(hd >= 2 && hd % 2 == 0, "headDim must be even and >= 2");
    need(x.size == static_cast<size_t>(T * heads * hd), "x must hold T*nHeads*headDim values");
    DeviceArena dev;
    HS_TRY(dx, dev.upload(x.data, x.size));
    HS_TRY(dp, dev.upload(pos.data, pos.size));
    HS_HIP_CHECK(launch_rope(nullptr, dx, dp, T, static_cast<int32_t>(heads),
                             static_cast<int32_t>(hd), a));
    HS_HIP_CHECK(hipDeviceSynchronize());
    Status st;
    *out = fetch(env, dx, x.size, &st);
    return st;
  });
}

Napi::Value SiluMul(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.siluMul", [&](Napi::Env env, Napi::Value* out) -> Status {
    auto g = typed<float>(info[0], "gate");
    auto u = typed<float>(info[1], "up");
    need(g.size == u.size, "gate and up must have the same length");
    DeviceArena dev;
    HS_TRY(dg, dev.upload(g.data, g.size));
    HS_TRY(du, dev.upload(u.data, u.size));
    HS_TRY(dy, dev.alloc<float>(g.size));
    HS_HIP_CHECK(launch_silu_mul(nullptr, dg, du, dy, static_cast<int64_t>(g.size)));
    HS_HIP_CHECK(hipDeviceSynchronize());
    Status st;
    *out = fetch(env, dy, g.size, &st);
    return st;
  });
}

Napi::Value Add(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.add", [&](Napi::Env env, Napi::Value* out) -> Status {
    auto y = typed<float>(info[0], "y");
    auto x = typed<float>(info[1], "x");
    need(y.size == x.size, "y and x must have the same length");
    DeviceArena dev;
    HS_TRY(dy, dev.upload(y.data, y.size));
    HS_TRY(dx, dev.upload(x.data, x.size));
    HS_HIP_CHECK(launch_add(nullptr, dy, dx, static_cast<int64_t>(y.size)));
    HS_HIP_CHECK(hipDeviceSynchronize());
    Status st;
    *out = fetch(env, dy, y.size, &st);
    return st;
  });
}

Napi::Value AddBias(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.addBias", [&](Napi::Env env, Napi::Value* out) -> Status {
    auto x = typed<float>(info[0], "x");
    auto b = typed<float>(info[1], "bias");
    const int64_t rows = count(info[2], "rows");
    const int64_t cols = count(info[3], "cols");
    need(x.size == static_cast<size_t>(rows * cols), "x must hold rows*cols values");
    need(b.size == static_cast<size_t>(cols), "bias must hold cols values");
    DeviceArena dev;
    HS_TRY(dx, dev.upload(x.data, x.size));
    HS_TRY(db, dev.upload(b.data, b.size));
    HS_HIP_CHECK(launch_add_bias(nullptr, dx, db, rows, cols));
    HS_HIP_CHECK(hipDeviceSynchronize());
    Status st;
    *out = fetch(env, dx, x.size, &st);
    return st;
  });
}

void check_cols(DType t, int64_t cols) {
  need(cols >= 1, "cols must be >= 1");
  need(t != DType::Q8_0 || cols % 32 == 0, "Q8_0 rows must be a multiple of 32 values");
}

// embed(table, dtype, rows, cols, ids) like ops.embed
Napi::Value Embed(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.embed", [&](Napi::Env env, Napi::Value* out) -> Status {
    auto tb = typed<uint8_t>(info[0], "table");
    const DType t = ops::dtype(info[1]);
    const int64_t rows = count(info[2], "rows");
    const int64_t cols = count(info[3], "cols");
    auto ids = typed<int32_t>(info[4], "ids");
    check_cols(t, cols);
    need(tb.size == dtype_row_bytes(t, cols) * static_cast<size_t>(rows), "table must hold rows*cols values");
    for (size_t i = 0; i < ids.size; ++i) {
      need(ids.data[i] >= 0 && ids.data[i] < rows, "a token id is outside [0, rows)");
    }
    DeviceArena dev;
    HS_TRY(dt, dev.upload(tb.data, tb.size));
    HS_TRY(di, dev.upload(ids.data, ids.size));
    HS_TRY(dy, dev.alloc<float>(ids.size * static_cast<size_t>(cols)));
    HS_HIP_CHECK(launch_embed(nullptr, static_cast<int32_t>(t), dt, cols, di,
                              static_cast<int64_t>(ids.size), dy));
    HS_HIP_CHECK(hipDeviceSynchronize());
    Status st;
    *out = fetch(env, dy, ids.size * static_cast<size_t>(cols), &st);
    return st;
  });
}

// gemv(x, M, K, weights, dtype, N) like ops.matmul: y[M][N] = x . W^T
Napi::Value Gemv(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.gemv", [&](Napi::Env env, Napi::Value* out) -> Status {
    auto x = typed<float>(info[0], "x");
    const int64_t M = count(info[1], "M");
    const int64_t K = count(info[2], "K");
    auto wb = typed<uint8_t>(info[3], "weights");
    const DType t = ops::dtype(info[4]);
    const int64_t N = count(info[5], "N");
    need(M >= 1 && N >= 1, "M and N must be at least 1");
    check_cols(t, K);
    need(x.size == static_cast<size_t>(M * K), "x must hold M*K values");
    need(wb.size == dtype_row_bytes(t, K) * static_cast<size_t>(N), "weights must hold N rows of K");
    DeviceArena dev;
    HS_TRY(dx, dev.upload(x.data, x.size));
    HS_TRY(dw, dev.upload(wb.data, wb.size));
    HS_TRY(dy, dev.alloc<float>(static_cast<size_t>(M * N)));
    HS_HIP_CHECK(launch_gemv(nullptr, static_cast<int32_t>(t), dw, N, K, dx, M, dy));
    HS_HIP_CHECK(hipDeviceSynchronize());
    Status st;
    *out = fetch(env, dy, static_cast<size_t>(M * N), &st);
    return st;
  });
}

}  // namespace

void RegisterKernelBindings(Napi::Env env, Napi::Object o) {
  o.Set("rmsnorm", Napi::Function::New(env, Rmsnorm, "rmsnorm"));
  o.Set("rope", Napi::Function::New(env, Rope, "rope"));
  o.Set("siluMul", Napi::Function::New(env, SiluMul, "siluMul"));
  o.Set("add", Napi::Function::New(env, Add, "add"));
  o.Set("addBias", Napi::Function::New(env, AddBias, "addBias"));
  o.Set("embed", Napi::Function::New(env, Embed, "embed"));
  o.Set("gemv", Napi::Function::New(env, Gemv, "gemv"));
}

}  // namespace hipemu
}  // namespace hs
