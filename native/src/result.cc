#include "result.h"

#include <exception>
#include <new>
#include <stdexcept>

namespace hs {

std::string code_name(Code c) {
  switch (c) {
#define HS_X(name, doc) \
  case Code::name:      \
    return "HIPSERVE_E_" #name;
    HS_ERROR_CODES(HS_X)
#undef HS_X
  }
  return "HIPSERVE_E_UNKNOWN_" + std::to_string(static_cast<int>(c));
}

Error exception_error(const std::string& where) {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return make_err(Code::OUT_OF_MEMORY, "out of memory (std::bad_alloc)", where);
  } catch (const std::length_error& e) {
    return make_err(Code::OUT_OF_MEMORY, std::string("allocation too large (") + e.what() + ")", where);
  } catch (const std::exception& e) {
    return make_err(Code::INTERNAL, std::string("unexpected C++ exception: ") + e.what(), where);
  } catch (...) {
    return make_err(Code::INTERNAL, "unexpected C++ exception", where);
  }
}

Napi::Object make_ok(Napi::Env env, Napi::Value value) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, true));
  o.Set("value", value);
  return o;
}

Napi::Object make_error(Napi::Env env, const Error& e) {
  Napi::Object err = Napi::Object::New(env);
  err.Set("code", Napi::String::New(env, code_name(e.code)));
  err.Set("message", Napi::String::New(env, e.message));
  err.Set("where", Napi::String::New(env, e.where));
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, false));
  o.Set("error", err);
  return o;
}

Napi::Value throw_type_error(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace hs
