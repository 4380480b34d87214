// Entry points run through guard(): node-addon-api's callback wrapper
// catches only Napi::Error (a caller's TypeError, rethrown to JavaScript
// here too), so any other C++ exception -- std::bad_alloc from a size a
// corrupt file claims, say -- would reach std::terminate and abort the
// process. guard() turns it into an error Result (a resolved Promise of one
// for the async entries) and the process keeps serving.
#pragma once

#include <napi.h>

#include "result.h"

namespace hs {

enum class Returns { Result, Promise };

template <class F>
Napi::Value guard(const Napi::CallbackInfo& info, const char* where, Returns kind, F&& fn) {
  try {
    return fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    Napi::Env env = info.Env();
    Napi::Object r = make_error(env, exception_error(where));
    if (kind == Returns::Result) return r;
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(r);
    return d.Promise();
  }
}

// A Napi::Function for `fn` behind guard().
#define HS_GUARDED(env, fn, name, kind) \
  Napi::Function::New(                  \
      env, [](const Napi::CallbackInfo& info) { return ::hs::guard(info, name, kind, fn); }, name)

}  // namespace hs
