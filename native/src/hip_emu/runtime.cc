// The emulator's runtime state: error names, the last-error slot, the pending
// kernel fault, the one emulated device, streams and events.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include "hip_emu/api.h"
#include "hip_emu/launch_internal.h"

namespace hs_emu {

struct EmuStream {
  int id;
};
struct EmuEvent {
  bool recorded = false;
  std::chrono::steady_clock::time_point at;
};

namespace {

std::atomic<int> g_wave_size{64};
thread_local hipError_t t_last = hipSuccess;

struct Faults {
  std::mutex mu;
  hipError_t pending = hipSuccess;
  std::string pending_detail;
  std::string last_detail;
  uint64_t count = 0;
  std::set<const EmuStream*> streams;
  std::set<const EmuEvent*> events;
};
Faults& state() {
  static Faults* f = new Faults();  // never destroyed: used until exit
  return *f;
}

}  // namespace

namespace detail {

hipError_t set_last(hipError_t e) {
  if (e != hipSuccess) t_last = e;
  return e;
}

void record_fault(const std::string& why) {
  Faults& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  ++s.count;
  if (s.pending == hipSuccess) {  // the first fault is the one worth reading
    s.pending = hipErrorIllegalAddress;
    s.pending_detail = why;
  }
}

hipError_t take_pending_fault() {
  Faults& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  const hipError_t e = s.pending;
  if (e != hipSuccess) {
    s.last_detail = s.pending_detail;
    s.pending = hipSuccess;
    s.pending_detail.clear();
  }
  return e;
}

uint64_t fault_count() {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().count;
}

bool stream_is_valid(hipStream_t s) {
  if (s == nullptr) return true;
  std::lock_guard<std::mutex> lock(state().mu);
  return state().streams.count(s) != 0;
}

}  // namespace detail

using detail::set_last;

bool set_wave_size(int lanes) {
  if (lanes != 32 && lanes != 64) return false;
  g_wave_size.store(lanes);
  return true;
}
int wave_size_setting() { return g_wave_size.load(); }

std::string last_fault_detail() {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().last_detail;
}

const char* hipGetErrorName(hipError_t e) {
  switch (e) {
#define HS_EMU_NAME(n) \
  case n:              \
    return #n;
    HS_EMU_NAME(hipSuccess)
    HS_EMU_NAME(hipErrorInvalidValue)
    HS_EMU_NAME(hipErrorOutOfMemory)
    HS_EMU_NAME(hipErrorNotInitialized)
    HS_EMU_NAME(hipErrorInvalidConfiguration)
    HS_EMU_NAME(hipErrorInvalidDevicePointer)
    HS_EMU_NAME(hipErrorInvalidMemcpyDirection)
    HS_EMU_NAME(hipErrorNoDevice)
    HS_EMU_NAME(hipErrorInvalidDevice)
    HS_EMU_NAME(hipErrorInvalidHandle)
    HS_EMU_NAME(hipErrorNotReady)
    HS_EMU_NAME(hipErrorIllegalAddress)
    HS_EMU_NAME(hipErrorLaunchFailure)
    HS_EMU_NAME(hipErrorNotSupported)
#undef HS_EMU_NAME
  }
  return "hipErrorUnknown";
}

const char* hipGetErrorString(hipError_t e) {
  switch (e) {
    case hipSuccess: return "no error";
    case hipErrorInvalidValue: return "invalid argument";
    case hipErrorOutOfMemory: return "out of memory";
    case hipErrorInvalidConfiguration: return "invalid configuration argument";
    case hipErrorInvalidDevicePointer: return "invalid device pointer";
    case hipErrorIllegalAddress: return "an illegal memory access was encountered";
    case hipErrorInvalidHandle: return "invalid resource handle";
    case hipErrorNoDevice: return "no ROCm-capable device is detected";
    case hipErrorInvalidDevice: return "invalid device ordinal";
    case hipErrorLaunchFailure: return "unspecified launch failure";
    default: return "emulated HIP error";
  }
}

hipError_t hipGetLastError() {
  const hipError_t e = t_last;
  t_last = hipSuccess;
  return e;
}
hipError_t hipPeekAtLastError() { return t_last; }

hipError_t hipGetDeviceCount(int* count) {
  if (count == nullptr) return set_last(hipErrorInvalidValue);
  *count = 1;
  return hipSuccess;
}
hipError_t hipSetDevice(int device) {
  return device == 0 ? hipSuccess : set_last(hipErrorInvalidDevice);
}
hipError_t hipGetDevice(int* device) {
  if (device == nullptr) return set_last(hipErrorInvalidValue);
  *device = 0;
  return hipSuccess;
}
hipError_t hipGetDeviceProperties(hipDeviceProp_t* prop, int device) {
  if (prop == nullptr) return set_last(hipErrorInvalidValue);
  if (device != 0) return set_last(hipErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  const int ws = wave_size_setting();
  std::snprintf(prop->name, sizeof prop->name, "hipserve HIP emulator (wave%d)", ws);
  // The arch a real device with this wavefront width would report.
  std::snprintf(prop->gcnArchName, sizeof prop->gcnArchName, "%s",
                ws == 64 ? "gfx90a:sramecc+:xnack-" : "gfx1030");
  size_t free_b = 0, total = 0;
  hipMemGetInfo(&free_b, &total);
  prop->totalGlobalMem = total;
  prop->sharedMemPerBlock = detail::kMaxSharedBytes;
  prop->warpSize = ws;
  prop->maxThreadsPerBlock = 1024;
  prop->multiProcessorCount = 1;
  prop->major = ws == 64 ? 9 : 10;
  return hipSuccess;
}

hipError_t hipDeviceSynchronize() { return set_last(detail::take_pending_fault()); }

hipError_t hipStreamCreate(hipStream_t* stream) {
  if (stream == nullptr) return set_last(hipErrorInvalidValue);
  static std::atomic<int> next{1};
  *stream = new EmuStream{next++};
  std::lock_guard<std::mutex> lock(state().mu);
  state().streams.insert(*stream);
  return hipSuccess;
}
hipError_t hipStreamDestroy(hipStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(state().mu);
    if (stream == nullptr || state().streams.erase(stream) == 0) {
      return set_last(hipErrorInvalidHandle);
    }
  }
  delete stream;
  return hipSuccess;
}
hipError_t hipStreamSynchronize(hipStream_t stream) {
  if (!detail::stream_is_valid(stream)) return set_last(hipErrorInvalidHandle);
  return set_last(detail::take_pending_fault());
}

hipError_t hipEventCreate(hipEvent_t* event) {
  if (event == nullptr) return set_last(hipErrorInvalidValue);
  *event = new EmuEvent();
  std::lock_guard<std::mutex> lock(state().mu);
  state().events.insert(*event);
  return hipSuccess;
}
static bool event_is_valid(hipEvent_t e) {
  std::lock_guard<std::mutex> lock(state().mu);
  return e != nullptr && state().events.count(e) != 0;
}
hipError_t hipEventDestroy(hipEvent_t event) {
  {
    std::lock_guard<std::mutex> lock(state().mu);
    if (event == nullptr || state().events.erase(event) == 0) {
      return set_last(hipErrorInvalidHandle);
    }
  }
  delete event;
  return hipSuccess;
}
hipError_t hipEventRecord(hipEvent_t event, hipStream_t stream) {
  if (!event_is_valid(event) || !detail::stream_is_valid(stream)) {
    return set_last(hipErrorInvalidHandle);
  }
  // Work before this point has already run (see api.h), so "now" is when the
  // event completes.
  event->recorded = true;
  event->at = std::chrono::steady_clock::now();
  return hipSuccess;
}
hipError_t hipEventSynchronize(hipEvent_t event) {
  if (!event_is_valid(event)) return set_last(hipErrorInvalidHandle);
  return set_last(detail::take_pending_fault());
}
hipError_t hipEventElapsedTime(float* ms, hipEvent_t start, hipEvent_t stop) {
  if (ms == nullptr) return set_last(hipErrorInvalidValue);
  if (!event_is_valid(start) || !event_is_valid(stop)) return set_last(hipErrorInvalidHandle);
  if (!start->recorded || !stop->recorded) return set_last(hipErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(stop->at - start->at).count();
  return hipSuccess;
}

}  // namespace hs_emu
