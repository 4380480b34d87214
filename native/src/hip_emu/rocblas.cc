// The emulator's rocblas_gemm_ex: a plain triple loop over column-major
// operands, every operand's extent checked against its device allocation
// before a single element is read (rocBLAS on a GPU would fault instead).
#include "hip_emu/rocblas.h"

#include <cstring>
#include <vector>

#include "cpu/kernels.h"
#include "hip_emu/launch_internal.h"

namespace hs_emu {

struct EmuBlasHandle {
  hipStream_t stream = nullptr;
};

namespace {

size_t elem_bytes(rocblas_datatype t) {
  switch (t) {
    case rocblas_datatype_f32_r: return 4;
    case rocblas_datatype_f16_r:
    case rocblas_datatype_bf16_r: return 2;
    default: return 0;
  }
}

float load(const void* p, rocblas_datatype t, int64_t i) {
  uint16_t h = 0;
  switch (t) {
    case rocblas_datatype_f32_r: {
      float f;
      std::memcpy(&f, static_cast<const char*>(p) + i * 4, 4);
      return f;
    }
    case rocblas_datatype_f16_r:
      std::memcpy(&h, static_cast<const char*>(p) + i * 2, 2);
      return hs::f16_to_f32(h);
    default:
      std::memcpy(&h, static_cast<const char*>(p) + i * 2, 2);
      return hs::bf16_to_f32(h);
  }
}

void store(void* p, rocblas_datatype t, int64_t i, float v) {
  char* q = static_cast<char*>(p);
  if (t == rocblas_datatype_f32_r) {
    std::memcpy(q + i * 4, &v, 4);
    return;
  }
  const uint16_t h = t == rocblas_datatype_f16_r ? hs::f32_to_f16(v) : hs::f32_to_bf16(v);
  std::memcpy(q + i * 2, &h, 2);
}

// Bytes a column-major rows x cols matrix with leading dimension ld spans.
size_t span_bytes(int64_t rows, int64_t cols, int64_t ld, size_t eb) {
  if (rows == 0 || cols == 0) return 0;
  return static_cast<size_t>((cols - 1) * ld + rows) * eb;
}

}  // namespace

const char* rocblas_status_to_string(rocblas_status s) {
  switch (s) {
    case rocblas_status_success: return "rocblas_status_success";
    case rocblas_status_invalid_handle: return "rocblas_status_invalid_handle";
    case rocblas_status_not_implemented: return "rocblas_status_not_implemented";
    case rocblas_status_invalid_pointer: return "rocblas_status_invalid_pointer";
    case rocblas_status_invalid_size: return "rocblas_status_invalid_size";
    case rocblas_status_memory_error: return "rocblas_status_memory_error";
    case rocblas_status_internal_error: return "rocblas_status_internal_error";
    case rocblas_status_invalid_value: return "rocblas_status_invalid_value";
  }
  return "rocblas_status_unknown";
}

rocblas_status rocblas_create_handle(rocblas_handle* handle) {
  if (handle == nullptr) return rocblas_status_invalid_pointer;
  *handle = new EmuBlasHandle();
  return rocblas_status_success;
}
rocblas_status rocblas_destroy_handle(rocblas_handle handle) {
  if (handle == nullptr) return rocblas_status_invalid_handle;
  delete handle;
  return rocblas_status_success;
}
rocblas_status rocblas_set_stream(rocblas_handle handle, hipStream_t stream) {
  if (handle == nullptr) return rocblas_status_invalid_handle;
  if (!detail::stream_is_valid(stream)) return rocblas_status_invalid_value;
  handle->stream = stream;
  return rocblas_status_success;
}

rocblas_status rocblas_gemm_ex(rocblas_handle handle, rocblas_operation trans_a,
                               rocblas_operation trans_b, rocblas_int m, rocblas_int n,
                               rocblas_int k, const void* alpha, const void* a,
                               rocblas_datatype a_type, rocblas_int lda, const void* b,
                               rocblas_datatype b_type, rocblas_int ldb, const void* beta,
                               const void* c, rocblas_datatype c_type, rocblas_int ldc, void* d,
                               rocblas_datatype d_type, rocblas_int ldd,
                               rocblas_datatype compute_type, rocblas_gemm_algo algo,
                               int32_t solution_index, uint32_t flags) {
  (void)solution_index;
  (void)flags;
  if (handle == nullptr) return rocblas_status_invalid_handle;
  if (m < 0 || n < 0 || k < 0) return rocblas_status_invalid_size;
  if (trans_a != rocblas_operation_none && trans_a != rocblas_operation_transpose)
    return rocblas_status_not_implemented;
  if (trans_b != rocblas_operation_none && trans_b != rocblas_operation_transpose)
    return rocblas_status_not_implemented;
  if (compute_type != rocblas_datatype_f32_r || algo != rocblas_gemm_algo_standard ||
      a_type != b_type || c_type != d_type || elem_bytes(a_type) == 0 || elem_bytes(c_type) == 0)
    return rocblas_status_not_implemented;
  const bool ta = trans_a == rocblas_operation_transpose;
  const bool tb = trans_b == rocblas_operation_transpose;
  // Stored shapes: A is (ta ? k x m : m x k), B is (tb ? n x k : k x n).
  const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
  const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
  if (lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) ||
      ldc < (m > 1 ? m : 1) || ldd < (m > 1 ? m : 1))
    return rocblas_status_invalid_size;
  if (m == 0 || n == 0) return rocblas_status_success;
  if (alpha == nullptr || beta == nullptr || d == nullptr) return rocblas_status_invalid_pointer;
  const float al = *static_cast<const float*>(alpha);
  const float be = *static_cast<const float*>(beta);
  const size_t ea = elem_bytes(a_type), ec = elem_bytes(c_type);
  if ((k > 0 && al != 0.0f && (!detail::range_is_device(a, span_bytes(a_rows, a_cols, lda, ea)) ||
                               !detail::range_is_device(b, span_bytes(b_rows, b_cols, ldb, ea)))) ||
      (be != 0.0f && !detail::range_is_device(c, span_bytes(m, n, ldc, ec))) ||
      !detail::range_is_device(d, span_bytes(m, n, ldd, ec)))
    return rocblas_status_invalid_pointer;
  // Invariant: every index below lies inside the spans checked above.
  std::vector<float> col(static_cast<size_t>(m));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < m; ++i) {
      float acc = 0.0f;
      if (al != 0.0f) {
        for (int64_t l = 0; l < k; ++l) {
          const float av = load(a, a_type, ta ? l + i * lda : i + l * lda);
          const float bv = load(b, b_type, tb ? j + l * ldb : l + j * ldb);
          acc += av * bv;
        }
      }
      float v = al * acc;
      if (be != 0.0f) v += be * load(c, c_type, i + j * ldc);
      col[static_cast<size_t>(i)] = v;
    }
    for (int64_t i = 0; i < m; ++i) store(d, d_type, i + j * ldd, col[static_cast<size_t>(i)]);
  }
  return rocblas_status_success;
}

}  // namespace hs_emu
