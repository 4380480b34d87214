// rocBLAS's gemm_ex as the emulator provides it: the same names, enum values
// and column-major semantics as rocblas.h, so host code written against real
// rocBLAS runs unchanged on the emulator.
//
//   D = alpha * op(A) * op(B) + beta * C     all column-major:
//   op(A) is m x k, op(B) is k x n, C and D are m x n;
//   element (i, j) of a matrix X with leading dimension ldx is X[i + j * ldx]
#pragma once

#include <cstdint>

#include "hip_emu/api.h"

namespace hs_emu {

enum rocblas_status : int {
  rocblas_status_success = 0,
  rocblas_status_invalid_handle = 1,
  rocblas_status_not_implemented = 2,
  rocblas_status_invalid_pointer = 3,
  rocblas_status_invalid_size = 4,
  rocblas_status_memory_error = 5,
  rocblas_status_internal_error = 6,
  rocblas_status_invalid_value = 11,
};
enum rocblas_operation : int {
  rocblas_operation_none = 111,
  rocblas_operation_transpose = 112,
  rocblas_operation_conjugate_transpose = 113,
};
enum rocblas_datatype : int {
  rocblas_datatype_f16_r = 150,
  rocblas_datatype_f32_r = 151,
  rocblas_datatype_f64_r = 152,
  rocblas_datatype_bf16_r = 168,
};
enum rocblas_gemm_algo : int { rocblas_gemm_algo_standard = 0 };
using rocblas_int = int32_t;
struct EmuBlasHandle;
using rocblas_handle = EmuBlasHandle*;

const char* rocblas_status_to_string(rocblas_status s);
rocblas_status rocblas_create_handle(rocblas_handle* handle);
rocblas_status rocblas_destroy_handle(rocblas_handle handle);
rocblas_status rocblas_set_stream(rocblas_handle handle, hipStream_t stream);

// alpha/beta point at host floats (rocblas_pointer_mode_host) of compute_type
// f32. A, B, C, D may be f32, f16 or bf16 (A and B alike, C and D alike).
rocblas_status rocblas_gemm_ex(rocblas_handle handle, rocblas_operation trans_a,
                               rocblas_operation trans_b, rocblas_int m, rocblas_int n,
                               rocblas_int k, const void* alpha, const void* a,
                               rocblas_datatype a_type, rocblas_int lda, const void* b,
                               rocblas_datatype b_type, rocblas_int ldb, const void* beta,
                               const void* c, rocblas_datatype c_type, rocblas_int ldc, void* d,
                               rocblas_datatype d_type, rocblas_int ldd,
                               rocblas_datatype compute_type, rocblas_gemm_algo algo,
                               int32_t solution_index, uint32_t flags);

}  // namespace hs_emu
