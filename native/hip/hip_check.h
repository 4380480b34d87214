// The one checking macro of the HIP side (real backend and emulator alike):
//
//   HS_HIP_CHECK(hipMalloc(&p, bytes));   // in a function returning
//                                         // hs::Status or hs::Result<T>
//
// evaluates a hip* or rocblas_* call once and, unless it succeeded, returns
// an hs::Error (code DEVICE, or OUT_OF_MEMORY for allocation failures) whose
// message names the API and the status, e.g.
//   "hipStreamSynchronize: hipErrorIllegalAddress (an illegal memory access
//    was encountered)". Nothing aborts the process.
// Include after kernels/hs_hip_compat.h (or hip_runtime.h + rocblas.h).
#pragma once

#include <string>

#include "result.h"

namespace hs {
namespace hipk {

// "hipMalloc(&p, n)" -> "hipMalloc"
inline std::string api_name(const char* expr) {
  std::string s(expr);
  const size_t paren = s.find('(');
  return paren == std::string::npos ? s : s.substr(0, paren);
}

inline bool status_ok(hipError_t e) { return e == hipSuccess; }
inline Error status_error(hipError_t e, const char* expr) {
  // Reported now: clear HIP's last-error slot so that the next launch's
  // hipGetLastError() does not report this same failure a second time.
  (void)hipGetLastError();
  std::string msg = api_name(expr) + ": " + hipGetErrorName(e) + " (" + hipGetErrorString(e) + ")";
#if HS_HIP_EMU
  // The emulator knows which kernel, thread and address faulted.
  if (e == hipErrorIllegalAddress && !::hs_emu::last_fault_detail().empty())
    msg += ": " + ::hs_emu::last_fault_detail();
#endif
  const Code c = e == hipErrorOutOfMemory ? Code::OUT_OF_MEMORY : Code::DEVICE;
  return make_err(c, msg, api_name(expr));
}

#if HS_HIP_EMU || defined(HIPSERVE_HAVE_ROCBLAS)
inline bool status_ok(rocblas_status s) { return s == rocblas_status_success; }
inline Error status_error(rocblas_status s, const char* expr) {
  const Code c = s == rocblas_status_memory_error ? Code::OUT_OF_MEMORY : Code::DEVICE;
  return make_err(c, api_name(expr) + ": " + rocblas_status_to_string(s), api_name(expr));
}
#endif

}  // namespace hipk
}  // namespace hs

#define HS_HIP_CHECK(call)                                                    \
  do {                                                                        \
    const auto hs_status_ = (call);                                           \
    if (!::hs::hipk::status_ok(hs_status_))                                   \
      return ::hs::hipk::status_error(hs_status_, #call);                     \
  } while (0)
