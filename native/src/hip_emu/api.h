// The host-side HIP runtime API as the emulator provides it: the subset the
// kernels' launchers and the HIP backend's host code call. Names, values and
// semantics follow HIP's (hip_runtime_api.h) so the same host code compiles
// against either; everything lives in namespace hs_emu so that nothing clashes
// with a real libamdhip64 loaded into the same process.
//
// Device memory is host memory handed out by hipMalloc and recorded in a
// registry; kernels reach it only through dptr<T> (device.h), which checks
// every access against the allocation it came from. A kernel's out-of-bounds
// access becomes a *pending fault*: the launch finishes (the bad access hits a
// scratch sink, not the heap), and the next synchronizing call
// (hipDeviceSynchronize, hipStreamSynchronize, hipEventSynchronize, hipMemcpy)
// returns hipErrorIllegalAddress, as a GPU reports it. Unlike a GPU the error
// is cleared once reported, so a test can go on using the device.
//
// Streams execute in order; the emulator runs each operation to completion
// when it is enqueued, which is one valid schedule of an in-order stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hs_emu {

enum hipError_t : int {
  hipSuccess = 0,
  hipErrorInvalidValue = 1,
  hipErrorOutOfMemory = 2,
  hipErrorNotInitialized = 3,
  hipErrorInvalidConfiguration = 9,
  hipErrorInvalidDevicePointer = 17,
  hipErrorInvalidMemcpyDirection = 21,
  hipErrorNoDevice = 100,
  hipErrorInvalidDevice = 101,
  hipErrorInvalidHandle = 400,
  hipErrorNotReady = 600,
  hipErrorIllegalAddress = 700,
  hipErrorLaunchFailure = 719,
  hipErrorNotSupported = 801,
};

enum hipMemcpyKind : int {
  hipMemcpyHostToHost = 0,
  hipMemcpyHostToDevice = 1,
  hipMemcpyDeviceToHost = 2,
  hipMemcpyDeviceToDevice = 3,
  hipMemcpyDefault = 4,
};

struct EmuStream;
struct EmuEvent;
using hipStream_t = EmuStream*;  // nullptr = the null stream, as in HIP
using hipEvent_t = EmuEvent*;

struct hipDeviceProp_t {
  char name[256];
  char gcnArchName[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int multiProcessorCount;
  int major;
  int minor;
};

const char* hipGetErrorName(hipError_t e);
const char* hipGetErrorString(hipError_t e);
hipError_t hipGetLastError();
hipError_t hipPeekAtLastError();

hipError_t hipGetDeviceCount(int* count);
hipError_t hipSetDevice(int device);
hipError_t hipGetDevice(int* device);
hipError_t hipGetDeviceProperties(hipDeviceProp_t* prop, int device);
hipError_t hipMemGetInfo(size_t* free_bytes, size_t* total_bytes);
hipError_t hipDeviceSynchronize();

hipError_t hipMalloc(void** ptr, size_t bytes);
hipError_t hipFree(void* ptr);
hipError_t hipMemcpy(void* dst, const void* src, size_t bytes, hipMemcpyKind kind);
hipError_t hipMemcpyAsync(void* dst, const void* src, size_t bytes, hipMemcpyKind kind,
                          hipStream_t stream);
hipError_t hipMemset(void* dst, int value, size_t bytes);
hipError_t hipMemsetAsync(void* dst, int value, size_t bytes, hipStream_t stream);

hipError_t hipStreamCreate(hipStream_t* stream);
hipError_t hipStreamDestroy(hipStream_t stream);
hipError_t hipStreamSynchronize(hipStream_t stream);

hipError_t hipEventCreate(hipEvent_t* event);
hipError_t hipEventDestroy(hipEvent_t event);
hipError_t hipEventRecord(hipEvent_t event, hipStream_t stream);
hipError_t hipEventSynchronize(hipEvent_t event);
hipError_t hipEventElapsedTime(float* ms, hipEvent_t start, hipEvent_t stop);

// ---- Emulator controls (not HIP API) ----

// Wavefront size of later launches: 64 (CDNA, the default) or 32 (RDNA).
// Returns false for any other value.
bool set_wave_size(int lanes);
int wave_size_setting();
// Capacity reported by hipMemGetInfo and enforced by hipMalloc.
void set_memory_limit(size_t bytes);
// Bytes currently allocated with hipMalloc (tests check for leaks).
size_t bytes_in_use();
// Description of the last fault reported by a synchronizing call ("" if none):
// kernel, block, thread, address and the allocation it fell outside of.
std::string last_fault_detail();

// ---- Internal: used by device.h and the launch machinery ----
namespace detail {
// Bounds [lo, hi) of the allocation containing p, false if p is in none.
bool find_allocation(const void* p, const char** lo, const char** hi);
// True if [p, p + bytes) lies inside one allocation.
bool range_is_device(const void* p, size_t bytes);
// Records a fault for the running launch (first one wins) and stores why.
void record_fault(const std::string& why);
// Records the result of an API call for hipGetLastError; returns e.
hipError_t set_last(hipError_t e);
// Returns and clears the pending kernel fault, or hipSuccess.
hipError_t take_pending_fault();
}  // namespace detail

}  // namespace hs_emu
