// exports.hipEmu attention entries (filled in below).
#include "../../../kernels/launchers.h"
#include "hip_emu/bindings_util.h"

namespace hs {
namespace hipemu {
void RegisterAttentionBindings(Napi::Env, Napi::Object) {}
}  // namespace hipemu
}  // namespace hs
