// Argument handling of exports.hipEmu, shared by its binding files. Reuses
// exports.ops' unpacking (ops/args.h) so both take the same arguments and a
// test can call ops.X(...) and hipEmu.X(...) alike; device failures come
// back as error Results (DEVICE / OUT_OF_MEMORY), never as exceptions.
#pragma once

#include <napi.h>

#include "hip_emu/device_arena.h"
#include "ops/args.h"

namespace hs {
namespace hipemu {

using ops::count;
using ops::need;
using ops::new_typed;
using ops::number;
using ops::object;
using ops::typed;

// Runs one binding. f(env, &value) returns a Status; on success `value` is
// wrapped as { ok: true, value }.
template <class F>
Napi::Value run(const Napi::CallbackInfo& info, const char* where, F&& f) {
  Napi::Env env = info.Env();
  try {
    Napi::Value value = env.Undefined();
    Status st = f(env, &value);
    if (!st.ok()) {
      Error e = st.error();
      e.where = std::string(where) + (e.where.empty() ? "" : " / " + e.where);
      return make_error(env, e);
    }
    return make_ok(env, value);
  } catch (const ops::TypeErr& e) {
    return throw_type_error(env, std::string(where) + ": " + e.msg);
  } catch (const ops::ValueErr& e) {
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

void RegisterKernelBindings(Napi::Env env, Napi::Object o);
void RegisterAttentionBindings(Napi::Env env, Napi::Object o);
void RegisterSampleBindings(Napi::Env env, Napi::Object o);
void RegisterEmuBindings(Napi::Env env, Napi::Object o);

}  // namespace hipemu
}  // namespace hs
