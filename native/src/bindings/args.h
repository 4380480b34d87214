// Argument unpacking. A wrong JavaScript type is a caller bug: these throw a
// TypeError (reaching JS through node-addon-api's wrapper, built with
// NAPI_CPP_EXCEPTIONS). Typed arrays are copied out, so async work never
// reads memory that JavaScript could change or free meanwhile.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hs {

Napi::Object arg_object(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* name);
// Optional member: absent/undefined -> fallback.
double opt_number(Napi::Object o, const char* key, double fallback);
std::string opt_string(Napi::Object o, const char* key, const std::string& fallback);
// Required integer member (finite, integral, within [lo, hi]).
int64_t req_int(Napi::Object o, const char* key, int64_t lo, int64_t hi);

// Required typed-array members of the exact element type; `optional` ones
// read as empty when absent.
void copy_i32(Napi::Object o, const char* key, std::vector<int32_t>* out, bool optional = false);
void copy_u8(Napi::Object o, const char* key, std::vector<uint8_t>* out, bool optional = false);
void copy_f32(Napi::Object o, const char* key, std::vector<float>* out, bool optional = false);
void copy_u64(Napi::Object o, const char* key, std::vector<uint64_t>* out);

Napi::Int32Array to_i32(Napi::Env env, const std::vector<int32_t>& v);
Napi::Float32Array to_f32(Napi::Env env, const std::vector<float>& v);

}  // namespace hs
