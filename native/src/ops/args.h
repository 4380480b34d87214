// Argument unpacking for exports.ops. A wrong JS type throws TypeErr (turned
// into a JS TypeError: a bug in the caller); a right type with a wrong value
// throws ValueErr (turned into an INVALID_ARGUMENT Result).
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "cpu/kernels.h"
#include "result.h"

namespace hs {
namespace ops {

struct TypeErr {
  std::string msg;
};
struct ValueErr {
  std::string msg;
};

template <class T>
struct Span {
  T* data = nullptr;
  size_t size = 0;
};

template <class T>
struct TypedTraits;
template <>
struct TypedTraits<float> {
  static constexpr napi_typedarray_type kType = napi_float32_array;
  static constexpr const char* kName = "Float32Array";
};
template <>
struct TypedTraits<int32_t> {
  static constexpr napi_typedarray_type kType = napi_int32_array;
  static constexpr const char* kName = "Int32Array";
};
template <>
struct TypedTraits<uint16_t> {
  static constexpr napi_typedarray_type kType = napi_uint16_array;
  static constexpr const char* kName = "Uint16Array";
};
template <>
struct TypedTraits<uint8_t> {
  static constexpr napi_typedarray_type kType = napi_uint8_array;
  static constexpr const char* kName = "Uint8Array";
};
template <>
struct TypedTraits<uint64_t> {
  static constexpr napi_typedarray_type kType = napi_biguint64_array;
  static constexpr const char* kName = "BigUint64Array";
};

template <class T>
Span<T> typed(Napi::Value v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedTraits<T>::kType) {
    throw TypeErr{std::string(name) + " must be a " + TypedTraits<T>::kName};
  }
  auto a = v.As<Napi::TypedArrayOf<T>>();
  return Span<T>{a.Data(), a.ElementLength()};
}

inline double number(Napi::Value v, const char* name) {
  if (!v.IsNumber()) throw TypeErr{std::string(name) + " must be a number"};
  return v.As<Napi::Number>().DoubleValue();
}

// A non-negative integer that fits comfortably in int64 (and in size_t math).
inline int64_t count(Napi::Value v, const char* name) {
  const double d = number(v, name);
  if (!(d >= 0) || d != std::floor(d) || d > 9.0e15) {
    throw ValueErr{std::string(name) + " must be a non-negative integer"};
  }
  return static_cast<int64_t>(d);
}

// Argument i as a count, or `absent` when it is missing or undefined.
inline int64_t count_or(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t absent) {
  return info.Length() > i && !info[i].IsUndefined() ? count(info[i], name) : absent;
}

inline std::string str(Napi::Value v, const char* name) {
  if (!v.IsString()) throw TypeErr{std::string(name) + " must be a string"};
  return v.As<Napi::String>().Utf8Value();
}

inline Napi::Object object(Napi::Value v, const char* name) {
  if (!v.IsObject() || v.IsTypedArray() || v.IsArray()) throw TypeErr{std::string(name) + " must be an object"};
  return v.As<Napi::Object>();
}

inline DType dtype(Napi::Value v) {
  DType t;
  if (!dtype_from_name(str(v, "dtype").c_str(), &t)) {
    throw ValueErr{"dtype must be one of f32, f16, bf16, q8_0"};
  }
  return t;
}

inline void need(bool cond, const std::string& msg) {
  if (!cond) throw ValueErr{msg};
}

// Runs one op: its value becomes { ok: true, value }, its errors a TypeError
// or an INVALID_ARGUMENT Result, any other C++ exception an error Result
// (OUT_OF_MEMORY for std::bad_alloc).
template <class F>
Napi::Value run(const Napi::CallbackInfo& info, const char* where, F&& f) {
  Napi::Env env = info.Env();
  try {
    return make_ok(env, f(env));
  } catch (const TypeErr& e) {
    return throw_type_error(env, std::string(where) + ": " + e.msg);
  } catch (const ValueErr& e) {
    return make_error(env, make_err(Code::INVALID_ARGUMENT, e.msg, where));
  } catch (const Napi::Error&) {
    throw;  // a JavaScript exception already pending (a TypedArray too large, say)
  } catch (...) {
    // Anything else (std::bad_alloc, say) would reach std::terminate through
    // node-addon-api's wrapper, which catches Napi::Error only: as in guard.h,
    // it becomes an error Result and the process keeps serving.
    return make_error(env, exception_error(where));
  }
}

inline Napi::Value arg(const Napi::CallbackInfo& info, size_t i) { return info[i]; }

template <class T>
Napi::TypedArrayOf<T> new_typed(Napi::Env env, size_t n) {
  return Napi::TypedArrayOf<T>::New(env, n);
}

// A new Float32Array holding x's values (ops that work in place return a copy).
inline Napi::Float32Array copy_of(Napi::Env env, const Span<float>& x) {
  auto out = new_typed<float>(env, x.size);
  if (x.size > 0) std::memcpy(out.Data(), x.data, x.size * sizeof(float));
  return out;
}

// RoPE parameters from a JS object { theta?, style?, rotaryDim?, llama3* }
// (ops.rope's `params`), checked against head_dim (ops_elementwise.cc).
cpu::RopeParams rope_params(Napi::Value v, int64_t head_dim);

// A pool of `threads` threads (0: the default pool); pools are created once
// per count and kept.
cpu::ThreadPool* pool_for(int64_t threads);

void RegisterTensorOps(Napi::Env env, Napi::Object ops);
void RegisterElementwiseOps(Napi::Env env, Napi::Object ops);
void RegisterAttentionOps(Napi::Env env, Napi::Object ops);
void RegisterSampleOps(Napi::Env env, Napi::Object ops);

}  // namespace ops
}  // namespace hs
