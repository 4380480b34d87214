// exports.ops: quantize / dequantize / matmul / benchMatmul / embed.
#include <chrono>
#include <cstring>
#include <ctime>
#include <vector>

#include "ops/args.h"

namespace hs {
namespace ops {
namespace {

void check_row_dtype(DType t, int64_t cols, const char* what) {
  if (t == DType::Q8_0) need(cols % kQ8Block == 0, std::string(what) + " must be a multiple of 32 for q8_0");
}

// quantize(f32: Float32Array, dtype) -> Uint8Array (file layout of one row)
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  return run(info, "ops.quantize", [&](Napi::Env env) -> Napi::Value {
    auto x = typed<float>(info[0], "values");
    const DType t = dtype(info[1]);
    const int64_t n = static_cast<int64_t>(x.size);
    check_row_dtype(t, n, "the number of values");
    auto out = new_typed<uint8_t>(env, dtype_row_bytes(t, n));
    quantize_row(t, x.data, n, out.Data());
    return out;
  });
}

// dequantize(bytes: Uint8Array, dtype, n) -> Float32Array
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  return run(info, "ops.dequantize", [&](Napi::Env env) -> Napi::Value {
    auto b = typed<uint8_t>(info[0], "bytes");
    const DType t = dtype(info[1]);
    const int64_t n = count(info[2], "n");
    check_row_dtype(t, n, "n");
    need(b.size == dtype_row_bytes(t, n), "bytes has " + std::to_string(b.size) + " bytes, " +
                                              std::to_string(dtype_row_bytes(t, n)) + " expected");
    auto out = new_typed<float>(env, static_cast<size_t>(n));
    dequantize_row(t, b.data, n, out.Data());
    return out;
  });
}

struct MatmulArgs {
  Span<float> x;
  int64_t M, K, N;
  WeightView w;
  cpu::ThreadPool* pool;
};

// weight_bytes: the bytes of weights to check (0: the whole array).
MatmulArgs matmul_args(const Napi::CallbackInfo& info, size_t threads_arg, size_t weight_bytes = 0) {
  MatmulArgs a;
  a.x = typed<float>(info[0], "x");
  a.M = count(info[1], "M");
  a.K = count(info[2], "K");
  auto wb = typed<uint8_t>(info[3], "weights");
  const DType t = dtype(info[4]);
  a.N = count(info[5], "N");
  need(a.M >= 1 && a.K >= 1 && a.N >= 1, "M, K and N must be at least 1");
  need(a.M * a.K <= (int64_t{1} << 32) && a.N * a.K <= (int64_t{1} << 34), "matrix too large");
  check_row_dtype(t, a.K, "K");
  need(a.x.size == static_cast<size_t>(a.M * a.K), "x must hold M*K values");
  if (weight_bytes == 0) weight_bytes = wb.size;
  need(weight_bytes == dtype_row_bytes(t, a.K) * static_cast<size_t>(a.N),
       "weights must hold N rows of K values in the dtype's layout");
  a.w = WeightView{wb.data, t, a.N, a.K};
  a.pool = pool_for(count_or(info, threads_arg, "threads", 0));  // 0: the default pool
  return a;
}

// matmul(x, M, K, weights, dtype, N, threads?, packed?) -> Float32Array [M][N]
// `packed`: packWeights of the same weights; the product then reads only
// it, through the level's packed kernel or the portable one, as a model's.
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  return run(info, "ops.matmul", [&](Napi::Env env) -> Napi::Value {
    MatmulArgs a = matmul_args(info, 6);
    Span<uint8_t> packed{};
    if (info.Length() > 7 && !info[7].IsUndefined()) {
      packed = typed<uint8_t>(info[7], "packed");
      need(cpu::packable(a.w), "packed weights need Q8_0, F16 or BF16 with N % 16 == 0");
      need(packed.size == dtype_row_bytes(a.w.dtype, a.K) * static_cast<size_t>(a.N), "packed must be as large as weights");
      a.w.packed = packed.data;
    }
    auto y = new_typed<float>(env, static_cast<size_t>(a.M * a.N));
    cpu::matmul(a.pool, a.x.data, a.M, a.w, y.Data());
    return y;
  });
}

// benchMatmul(x, M, K, weights, dtype, N, iters, threads?, copies?) ->
// { best, mean, cpuBest } seconds per call, timed inside the addon after one
// warm-up call. `weights` may hold `copies` matrices back to back; call i
// uses copy i % copies, so a set larger than the caches streams from memory
// as a real model's layers do. cpuBest is the calling thread's CPU time (the
// whole work with threads = 1; immune to preemption by other processes).
Napi::Value BenchMatmul(const Napi::CallbackInfo& info) {
  return run(info, "ops.benchMatmul", [&](Napi::Env env) -> Napi::Value {
    const int64_t copies = count_or(info, 8, "copies", 1);
    need(copies >= 1 && copies <= 4096, "copies must be within [1, 4096]");
    // validate one copy's worth of bytes, then widen the view
    auto wb = typed<uint8_t>(info[3], "weights");
    need(wb.size % static_cast<size_t>(copies) == 0, "weights must hold `copies` equal matrices");
    const size_t one = wb.size / static_cast<size_t>(copies);
    MatmulArgs a = matmul_args(info, 7, one);
    const int64_t iters = count(info[6], "iters");
    need(iters >= 1 && iters <= 100000, "iters must be within [1, 100000]");
    std::vector<float> y(static_cast<size_t>(a.M * a.N));
    cpu::matmul(a.pool, a.x.data, a.M, a.w, y.data());
    double best = 1e30, total = 0.0, cpu_best = 1e30;
    for (int64_t i = 0; i < iters; ++i) {
      WeightView w = a.w;
      w.data = wb.data + static_cast<size_t>(i % copies) * one;
      timespec c0, c1;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
      const auto t0 = std::chrono::steady_clock::now();
      cpu::matmul(a.pool, a.x.data, a.M, w, y.data());
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
      best = std::min(best, s);
      total += s;
      cpu_best = std::min(cpu_best, static_cast<double>(c1.tv_sec - c0.tv_sec) + 1e-9 * static_cast<double>(c1.tv_nsec - c0.tv_nsec));
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("best", Napi::Number::New(env, best));
    o.Set("mean", Napi::Number::New(env, total / static_cast<double>(iters)));
    o.Set("cpuBest", Napi::Number::New(env, cpu_best));
    return o;
  });
}

// packWeights(weights: Uint8Array, dtype, N, K) -> Uint8Array: rows [N][K]
// of Q8_0, f16 or bf16 in the 16-row interleaved layout (N % 16 == 0).
Napi::Value PackWeights(const Napi::CallbackInfo& info) {
  return run(info, "ops.packWeights", [&](Napi::Env env) -> Napi::Value {
    auto wb = typed<uint8_t>(info[0], "weights");
    const DType t = dtype(info[1]);
    const int64_t N = count(info[2], "N");
    const int64_t K = count(info[3], "K");
    check_row_dtype(t, K, "K");
    const WeightView w{wb.data, t, N, K};
    need(cpu::packable(w), "packing needs Q8_0, f16 or bf16 and N a positive multiple of 16");
    need(wb.size == dtype_row_bytes(t, K) * static_cast<size_t>(N), "weights must hold N rows of K values");
    auto out = new_typed<uint8_t>(env, wb.size);
    cpu::pack_weights(w, out.Data());
    return out;
  });
}

// packedKernel(dtype) -> boolean: the current SIMD level has its own kernel
// for dtype's packed layout (else the portable one serves).
Napi::Value PackedKernel(const Napi::CallbackInfo& info) {
  return run(info, "ops.packedKernel", [&](Napi::Env env) -> Napi::Value {
    return Napi::Boolean::New(env, cpu::packed_kernel(dtype(info[0])));
  });
}

// embed(table: Uint8Array, dtype, rows, cols, ids: Int32Array) -> Float32Array [T][cols]
Napi::Value Embed(const Napi::CallbackInfo& info) {
  return run(info, "ops.embed", [&](Napi::Env env) -> Napi::Value {
    auto tb = typed<uint8_t>(info[0], "table");
    const DType t = dtype(info[1]);
    const int64_t rows = count(info[2], "rows");
    const int64_t cols = count(info[3], "cols");
    auto ids = typed<int32_t>(info[4], "ids");
    check_row_dtype(t, cols, "cols");
    need(tb.size == dtype_row_bytes(t, cols) * static_cast<size_t>(rows), "table must hold rows*cols values");
    auto out = new_typed<float>(env, ids.size * static_cast<size_t>(cols));
    const WeightView w{tb.data, t, rows, cols};
    need(cpu::embed(w, ids.data, static_cast<int64_t>(ids.size), out.Data()), "a token id is outside [0, rows)");
    return out;
  });
}

}  // namespace

void RegisterTensorOps(Napi::Env env, Napi::Object o) {
  o.Set("quantize", Napi::Function::New(env, Quantize, "quantize"));
  o.Set("dequantize", Napi::Function::New(env, Dequantize, "dequantize"));
  o.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  o.Set("benchMatmul", Napi::Function::New(env, BenchMatmul, "benchMatmul"));
  o.Set("embed", Napi::Function::New(env, Embed, "embed"));
  o.Set("packWeights", Napi::Function::New(env, PackWeights, "packWeights"));
  o.Set("packedKernel", Napi::Function::New(env, PackedKernel, "packedKernel"));
}

}  // namespace ops
}  // namespace hs
