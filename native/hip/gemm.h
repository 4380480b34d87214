// Matrix products of the HIP backend, row-major throughout hipserve:
//   y[M][N] = x[M][K] . W^T,   W [N][K] as the model file stores it.
//
// This is the ONE place where that meets rocBLAS's column-major world.
// A row-major [R][C] array is, byte for byte, a column-major C x R matrix, so
//   y^T (N x M, ld N) = W (N x K) . x^T (K x M)
// where W is the column-major K x N matrix "W^T" (ld K) taken transposed and
// x^T is the column-major K x M matrix (ld K) taken as is:
//   rocblas_gemm_ex(op_T, op_N, m = N, n = M, k = K, A = W, lda = K,
//                   B = x, ldb = K, C = D = y, ldc = ldd = N)
// Without rocBLAS (Debian's ROCm, HIPSERVE_HAVE_ROCBLAS undefined) the
// backend's own tiled kernel computes the same product.
#pragma once

#include "../../kernels/launchers.h"
#include "hip_check.h"

#if HS_HIP_EMU || defined(HIPSERVE_HAVE_ROCBLAS)
#define HS_HIP_HAVE_BLAS 1
#if !HS_HIP_EMU
#include <rocblas/rocblas.h>
#endif
#else
#define HS_HIP_HAVE_BLAS 0
#endif

namespace hs {
namespace hipk {

struct GemmContext {
  hipStream_t stream = nullptr;
#if HS_HIP_HAVE_BLAS
  rocblas_handle blas = nullptr;  // bound to `stream` by the caller
#endif
  uint16_t* half_x = nullptr;  // device scratch for 16-bit activations
  size_t half_x_elems = 0;
};

inline Status gemm_rowmajor(GemmContext& c, const float* x, int64_t M, int64_t K, int32_t dtype,
                            const void* w, int64_t N, float* y) {
#if HS_HIP_HAVE_BLAS
  if (dtype != kQ8_0 && c.blas != nullptr) {
    const float one = 1.0f, zero = 0.0f;
    const void* b = x;
    rocblas_datatype ab_type = rocblas_datatype_f32_r;
    if (dtype != kF32) {
      // rocblas_gemm_ex takes A and B of one type: 16-bit weights want
      // 16-bit activations (accumulation stays f32).
      if (static_cast<size_t>(M * K) > c.half_x_elems) {
        return make_err(Code::INTERNAL, "gemm scratch too small for M*K activations", "gemm_rowmajor");
      }
      HS_HIP_CHECK(launch_to_half(c.stream, dtype, x, M * K, c.half_x));
      b = c.half_x;
      ab_type = dtype == kBF16 ? rocblas_datatype_bf16_r : rocblas_datatype_f16_r;
    }
    HS_HIP_CHECK(rocblas_gemm_ex(c.blas, rocblas_operation_transpose, rocblas_operation_none,
                                 static_cast<rocblas_int>(N), static_cast<rocblas_int>(M),
                                 static_cast<rocblas_int>(K), &one, w, ab_type,
                                 static_cast<rocblas_int>(K), b, ab_type,
                                 static_cast<rocblas_int>(K), &zero, y, rocblas_datatype_f32_r,
                                 static_cast<rocblas_int>(N), y, rocblas_datatype_f32_r,
                                 static_cast<rocblas_int>(N), rocblas_datatype_f32_r,
                                 rocblas_gemm_algo_standard, 0, 0));
    return Status();
  }
#endif
  HS_HIP_CHECK(launch_gemm_tiled(c.stream, x, M, K, dtype, w, N, y));
  return Status();
}

}  // namespace hipk
}  // namespace hs
