// The HIP device forward (native/hip/device_model.cc, device_forward.cc)
// compiled as host C++ against the emulator: the very source hipcc builds
// into libhipserve_hip.so, included here so the addon's glob builds it.
#include "../../hip/device_model.cc"
#include "../../hip/device_forward.cc"
