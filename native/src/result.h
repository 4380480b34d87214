// The one Result shape of the addon and the one table of error codes.
//
// Runtime failures (device, memory, file, unsupported input) travel as
// hs::Error values inside C++ and reach JavaScript as
//   { ok: false, error: { code, message, where } }
// built by make_error(); successes as { ok: true, value } by make_ok().
// A wrong argument *type* from JavaScript is a bug in the caller and throws a
// TypeError instead (throw_type_error).
#pragma once

#include <napi.h>

#include <string>
#include <utility>

namespace hs {

// Stable codes: append only, never renumber (TypeScript mirrors the names).
#define HS_ERROR_CODES(X)                                                        \
  X(INVALID_ARGUMENT, "an argument has the right type but a wrong value")       \
  X(NOT_FOUND, "a file, tensor, backend or key does not exist")                 \
  X(IO, "reading or mapping a file failed")                                     \
  X(BAD_FORMAT, "a model file is truncated, corrupt or inconsistent")           \
  X(UNSUPPORTED, "a dtype, architecture or option this build does not handle")  \
  X(OUT_OF_MEMORY, "an allocation failed")                                      \
  X(DEVICE, "a device runtime or library call failed")                          \
  X(UNAVAILABLE, "the backend or device is not present on this machine")        \
  X(INTERNAL, "an invariant of the addon itself was broken")                    \
  X(BUSY, "the model is already running a forward pass")

enum class Code : int {
#define HS_X(name, doc) name,
  HS_ERROR_CODES(HS_X)
#undef HS_X
};

// "HIPSERVE_E_<NAME>", or "HIPSERVE_E_UNKNOWN_<n>" for a value outside the table.
std::string code_name(Code c);

struct Error {
  Code code = Code::INTERNAL;
  std::string message;
  std::string where;  // the operation or file/tensor the failure belongs to
};

inline Error make_err(Code c, std::string message, std::string where) {
  return Error{c, std::move(message), std::move(where)};
}

// A C++-side result for code that may fail; `ok()` tells which member is set.
template <class T>
class Result {
 public:
  Result(T value) : ok_(true), value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error err) : ok_(false), err_(std::move(err)) {}   // NOLINT: implicit by design
  bool ok() const { return ok_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  const Error& error() const { return err_; }

 private:
  bool ok_;
  T value_{};
  Error err_{};
};

// Status-only result: an empty Error with ok() true.
class Status {
 public:
  Status() = default;
  Status(Error err) : ok_(false), err_(std::move(err)) {}  // NOLINT: implicit by design
  bool ok() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  bool ok_ = true;
  Error err_{};
};

// The C++ exception being handled as an Error naming `where`: std::bad_alloc
// and std::length_error (a size too large to allocate) -> OUT_OF_MEMORY,
// anything else -> INTERNAL. Call it only inside a catch block (it
// rethrows the current exception to look at it).
Error exception_error(const std::string& where);

// JavaScript side.
Napi::Object make_ok(Napi::Env env, Napi::Value value);
Napi::Object make_error(Napi::Env env, const Error& e);
// Throws a JS TypeError (programming error in the caller); returns undefined.
Napi::Value throw_type_error(Napi::Env env, const std::string& message);

}  // namespace hs
