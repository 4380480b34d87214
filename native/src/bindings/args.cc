#include "bindings/args.h"

#include <cmath>
#include <cstring>

namespace hs {

namespace {

[[noreturn]] void type_error(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

template <class T>
void copy_typed(Napi::Object o, const char* key, napi_typedarray_type type, const char* type_name, std::vector<T>* out,
                bool optional) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  if (optional && (v.IsUndefined() || v.IsNull())) {
    out->clear();
    return;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    type_error(env, std::string("step.") + key + " must be a " + type_name);
  }
  auto a = v.As<Napi::TypedArrayOf<T>>();
  out->resize(a.ElementLength());
  // Invariant: a.Data() points at ElementLength() elements of T owned by the array.
  if (!out->empty()) std::memcpy(out->data(), a.Data(), out->size() * sizeof(T));
}

}  // namespace

Napi::Object arg_object(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsObject()) type_error(info.Env(), std::string(name) + " must be an object");
  return info[i].As<Napi::Object>();
}

std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) type_error(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

double opt_number(Napi::Object o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) type_error(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

std::string opt_string(Napi::Object o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) type_error(o.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

int64_t req_int(Napi::Object o, const char* key, int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) type_error(o.Env(), std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
    // A number of the right type but out of range is still the caller's bug
    // for these small structural integers.
    throw Napi::RangeError::New(o.Env(), std::string(key) + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return static_cast<int64_t>(d);
}

void copy_i32(Napi::Object o, const char* key, std::vector<int32_t>* out, bool optional) {
  copy_typed<int32_t>(o, key, napi_int32_array, "Int32Array", out, optional);
}
void copy_u8(Napi::Object o, const char* key, std::vector<uint8_t>* out, bool optional) {
  copy_typed<uint8_t>(o, key, napi_uint8_array, "Uint8Array", out, optional);
}
void copy_f32(Napi::Object o, const char* key, std::vector<float>* out, bool optional) {
  copy_typed<float>(o, key, napi_float32_array, "Float32Array", out, optional);
}
void copy_u64(Napi::Object o, const char* key, std::vector<uint64_t>* out) {
  copy_typed<uint64_t>(o, key, napi_biguint64_array, "BigUint64Array", out, false);
}

Napi::Int32Array to_i32(Napi::Env env, const std::vector<int32_t>& v) {
  auto a = Napi::Int32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(int32_t));
  return a;
}

Napi::Float32Array to_f32(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(float));
  return a;
}

}  // namespace hs
