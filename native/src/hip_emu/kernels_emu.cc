// The kernels of kernels/*.hip compiled as host C++ for the emulator: the
// very sources hipcc compiles for AMD, included here so that the addon's
// glob (native/src/**/*.cc) builds them with everything else.
#include "../../../kernels/elementwise.hip"
#include "../../../kernels/probe.hip"
#include "../../../kernels/rmsnorm.hip"
#include "../../../kernels/rope.hip"
#include "../../../kernels/gemv.hip"
#include "../../../kernels/attn_decode.hip"
#include "../../../kernels/attn_prefill.hip"
#include "../../../kernels/gemm_tiled.hip"
#include "../../../kernels/sample.hip"
