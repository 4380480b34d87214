// placeholder
#include "cpu/internal.h"
namespace hs { namespace cpu {
const IsaKernels kAvx512Kernels = {"avx512", {nullptr, nullptr, nullptr, nullptr}, nullptr, nullptr, nullptr};
}}
