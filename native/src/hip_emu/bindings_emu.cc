// exports.hipEmu entries that test the emulator and the BLAS path rather than
// one model kernel: probe (execution model), gemmEx (rocBLAS column-major
// semantics), gemmRowMajor (native/hip/gemm.h, the one row/column-major
// conversion, through rocblas_gemm_ex or the tiled kernel).
#include <string>
#include <vector>

#include "../../../kernels/launchers.h"
#include "../../hip/gemm.h"
#include "hip_emu/bindings_util.h"

namespace hs {
namespace hipemu {
namespace {

using namespace hipk;

// probe(kind: 'wave' | 'sharedOob' | 'badBarrier', blocks, threads) -> Result<Int32Array>
Napi::Value Probe(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.probe", [&](Napi::Env env, Napi::Value* out) -> Status {
    const std::string kind = ops::str(info[0], "kind");
    const int64_t blocks = count(info[1], "blocks");
    const int64_t threads = count(info[2], "threads");
    need(kind == "wave" || kind == "sharedOob" || kind == "badBarrier", "unknown probe");
    need(blocks >= 1 && blocks <= 64 && threads >= 1 && threads <= 1024, "blocks <= 64, threads <= 1024");
    const int32_t k = kind == "wave" ? 0 : kind == "sharedOob" ? 1 : 2;
    const size_t n = static_cast<size_t>(k == 0 ? blocks * threads * 8 : threads);
    DeviceArena dev;
    HS_TRY(d, dev.alloc<int32_t>(n));
    HS_HIP_CHECK(launch_probe(nullptr, k, static_cast<int32_t>(blocks), static_cast<int32_t>(threads), d));
    HS_HIP_CHECK(hipDeviceSynchronize());
    auto y = new_typed<int32_t>(env, n);
    HS_TRY_STATUS(download(y.Data(), d, n * 4));
    *out = y;
    return Status();
  });
}

// Destroys the handle on every path out of a binding.
struct BlasHandle {
  rocblas_handle h = nullptr;
  BlasHandle() = default;
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;
  ~BlasHandle() {
    if (h != nullptr) (void)rocblas_destroy_handle(h);
  }
};

rocblas_operation op(Napi::Value v, const char* name) {
  const std::string s = ops::str(v, name);
  need(s == "N" || s == "T", std::string(name) + " must be 'N' or 'T'");
  return s == "N" ? rocblas_operation_none : rocblas_operation_transpose;
}

// gemmEx({ transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc })
// all f32, column-major as rocBLAS defines them -> Result<Float32Array d>
// (d has c's shape and leading dimension).
Napi::Value GemmEx(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.gemmEx", [&](Napi::Env env, Napi::Value* out) -> Status {
    Napi::Object o = object(info[0], "args");
    const rocblas_operation ta = op(o.Get("transA"), "transA"), tb = op(o.Get("transB"), "transB");
    const auto m = static_cast<rocblas_int>(count(o.Get("m"), "m"));
    const auto n = static_cast<rocblas_int>(count(o.Get("n"), "n"));
    const auto k = static_cast<rocblas_int>(count(o.Get("k"), "k"));
    const auto lda = static_cast<rocblas_int>(count(o.Get("lda"), "lda"));
    const auto ldb = static_cast<rocblas_int>(count(o.Get("ldb"), "ldb"));
    const auto ldc = static_cast<rocblas_int>(count(o.Get("ldc"), "ldc"));
    const float alpha = static_cast<float>(number(o.Get("alpha"), "alpha"));
    const float beta = static_cast<float>(number(o.Get("beta"), "beta"));
    auto a = typed<float>(o.Get("a"), "a");
    auto b = typed<float>(o.Get("b"), "b");
    auto c = typed<float>(o.Get("c"), "c");
    DeviceArena dev;
    HS_TRY(da, dev.upload(a.data, a.size));
    HS_TRY(db, dev.upload(b.data, b.size));
    HS_TRY(dc, dev.upload(c.data, c.size));
    BlasHandle h;
    HS_HIP_CHECK(rocblas_create_handle(&h.h));
    HS_HIP_CHECK(rocblas_gemm_ex(h.h, ta, tb, m, n, k, &alpha, da, rocblas_datatype_f32_r, lda, db,
                                 rocblas_datatype_f32_r, ldb, &beta, dc, rocblas_datatype_f32_r, ldc,
                                 dc, rocblas_datatype_f32_r, ldc, rocblas_datatype_f32_r,
                                 rocblas_gemm_algo_standard, 0, 0));
    auto y = new_typed<float>(env, c.size);
    HS_TRY_STATUS(download(y.Data(), dc, c.size * 4));
    *out = y;
    return Status();
  });
}

// gemmRowMajor(x, M, K, weights, dtype, N, path: 'rocblas' | 'tiled') like
// ops.matmul -> Result<Float32Array [M][N]>
Napi::Value GemmRowMajor(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.gemmRowMajor", [&](Napi::Env env, Napi::Value* out) -> Status {
    auto x = typed<float>(info[0], "x");
    const int64_t M = count(info[1], "M"), K = count(info[2], "K");
    auto wb = typed<uint8_t>(info[3], "weights");
    const DType t = ops::dtype(info[4]);
    const int64_t N = count(info[5], "N");
    const std::string path = ops::str(info[6], "path");
    need(path == "rocblas" || path == "tiled", "path must be 'rocblas' or 'tiled'");
    need(M >= 1 && N >= 1 && K >= 1 && (t != DType::Q8_0 || K % 32 == 0), "bad shape");
    need(x.size == static_cast<size_t>(M * K), "x must hold M*K values");
    need(wb.size == dtype_row_bytes(t, K) * static_cast<size_t>(N), "weights must hold N rows of K");
    DeviceArena dev;
    HS_TRY(dx, dev.upload(x.data, x.size));
    HS_TRY(dw, dev.upload(wb.data, wb.size));
    HS_TRY(dy, dev.alloc<float>(static_cast<size_t>(M * N)));
    HS_TRY(dhalf, dev.alloc<uint16_t>(static_cast<size_t>(M * K)));
    BlasHandle h;
    if (path == "rocblas") HS_HIP_CHECK(rocblas_create_handle(&h.h));
    GemmContext g;
    g.blas = h.h;
    g.half_x = dhalf;
    g.half_x_elems = static_cast<size_t>(M * K);
    HS_TRY_STATUS(gemm_rowmajor(g, dx, M, K, static_cast<int32_t>(t), dw, N, dy));
    HS_HIP_CHECK(hipDeviceSynchronize());
    auto y = new_typed<float>(env, static_cast<size_t>(M * N));
    HS_TRY_STATUS(download(y.Data(), dy, static_cast<size_t>(M * N) * 4));
    *out = y;
    return Status();
  });
}

}  // namespace

void RegisterEmuBindings(Napi::Env env, Napi::Object o) {
  o.Set("probe", Napi::Function::New(env, Probe, "probe"));
  o.Set("gemmEx", Napi::Function::New(env, GemmEx, "gemmEx"));
  o.Set("gemmRowMajor", Napi::Function::New(env, GemmRowMajor, "gemmRowMajor"));
}

}  // namespace hipemu
}  // namespace hs
