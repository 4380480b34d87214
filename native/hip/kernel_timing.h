// The kernel timing entry point of libhipserve_hip.so (kernel_timing.cc):
// times, on the library's device, each launcher of kernels/launchers.h that
// one batch-1 decode step runs, on the shapes given, with HIP events. The
// bench (bench/hip-kernels.ts) prints the results against bench/ROOFLINE.md.
//
// Plain C structs only: they cross the dlopen boundary (the addon's side is
// native/src/hip_emu/kernel_times.cc). The layout is append-only at the end
// of each struct; any other change renames the symbol.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef HS_HIP_EXPORT
#define HS_HIP_EXPORT __attribute__((visibility("default")))
#endif

#define HS_HIP_TIMING_MAX_KERNELS 24
#define HS_HIP_TIMING_NAME_BYTES 32

typedef struct hs_hip_timing_args {
  int64_t hidden, num_heads, num_kv_heads, head_dim, intermediate, vocab;
  int64_t context;       // tokens the decode token attends to, itself included
  int64_t block_size;    // KV cache slots per block
  int32_t weight_dtype;  // hipk::WDType: 0 f32, 1 f16, 2 bf16, 3 q8_0
  int32_t iterations;    // timed launches per kernel, after one warm-up launch
  // 0: the timed launches run back to back between two events (the weights
  // stay in the last-level cache if they fit). > 0: a buffer of this many
  // bytes is overwritten before each timed launch, outside its own pair of
  // events, so that each launch reads from memory as it does in a real
  // step (MI300X's Infinity Cache is 256 MB, the 7900 XTX's 96 MB).
  uint64_t flush_bytes;
} hs_hip_timing_args;

typedef struct hs_hip_kernel_time {
  char name[HS_HIP_TIMING_NAME_BYTES];  // "gemv q", "attn_decode", ...
  double mean_ms;                       // per launch
  // The roofline's accounting (bench/ROOFLINE.md): the bytes a kernel must
  // move and the FLOPs it must do at these shapes, not what it really does.
  uint64_t bytes, flops;
  int32_t per_layer;  // launches per layer in a decode step
  int32_t per_step;   // launches once per step (embed, lm_head, sample, final norm)
} hs_hip_kernel_time;

typedef struct hs_hip_timing_out {
  int32_t count;  // entries of `kernels` filled
  hs_hip_kernel_time kernels[HS_HIP_TIMING_MAX_KERNELS];
  uint64_t device_bytes;  // device memory the run allocated (all freed on return)
} hs_hip_timing_out;

// 0 on success, else 1 + hs::Code with the message in err (abi_guard.h).
// Bad shapes are INVALID_ARGUMENT; device failures DEVICE / OUT_OF_MEMORY.
HS_HIP_EXPORT int hs_hip_time_kernels(const hs_hip_timing_args* args, hs_hip_timing_out* out, char* err, size_t cap);

#ifdef __cplusplus
}
#endif
