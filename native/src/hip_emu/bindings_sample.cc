// exports.hipEmu.sample (filled in below).
#include "../../../kernels/launchers.h"
#include "hip_emu/bindings_util.h"

namespace hs {
namespace hipemu {
void RegisterSampleBindings(Napi::Env, Napi::Object) {}
}  // namespace hipemu
}  // namespace hs
