// Shared between the emulator's runtime (runtime.cc, memory.cc) and its
// launcher (fiber.cc); not seen by kernels or host code.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hip_emu/api.h"

namespace hs_emu {
namespace detail {

// Per-block limit of dynamic shared memory, as on CDNA/RDNA (64 KiB LDS).
constexpr size_t kMaxSharedBytes = 64 * 1024;

// True for nullptr (the null stream) and for streams not yet destroyed.
bool stream_is_valid(hipStream_t s);
// Number of faults recorded so far (a launch compares before/after).
uint64_t fault_count();

}  // namespace detail
}  // namespace hs_emu
