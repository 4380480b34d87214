// The error convention of libhipserve_hip.so's C ABI, shared by its entry
// files (backend_api.cc, kernel_timing.cc): a call returns 0 on success, else
// 1 + the hs::Code of the failure (result.h's table) with the message in
// `err` (NUL-terminated, truncated to `cap`). Nothing throws across the
// boundary: every C++ exception becomes an INTERNAL error here.
#pragma once

#include <cstdio>
#include <exception>
#include <string>

#include "result.h"

namespace hs {
namespace hipk {

inline void abi_copy_out(const std::string& s, char* buf, size_t cap) {
  if (buf == nullptr || cap == 0) return;
  std::snprintf(buf, cap, "%s", s.c_str());
}

inline int abi_fail(const Error& e, char* err, size_t cap) {
  abi_copy_out(e.message, err, cap);
  return 1 + static_cast<int>(e.code);
}

// Runs fn (returning hs::Status) with every exception turned into an error.
template <class F>
int abi_guarded(char* err, size_t cap, F&& fn) {
  try {
    Status st = fn();
    return st.ok() ? 0 : abi_fail(st.error(), err, cap);
  } catch (const std::exception& e) {
    return abi_fail(make_err(Code::INTERNAL, std::string("libhipserve_hip: ") + e.what(), "hip"), err, cap);
  } catch (...) {
    return abi_fail(make_err(Code::INTERNAL, "libhipserve_hip: unknown exception", "hip"), err, cap);
  }
}

}  // namespace hipk
}  // namespace hs
