// hs_hip_time_kernels (kernel_timing.h): one batch-1 decode step's launchers,
// each timed alone on the library's device with HIP events.
//
// Device memory of a run (all of it freed on return, error or not):
//
//   weights   q [nh*hd][H], k/v [nkv*hd][H], o [H][nh*hd], gate/up [I][H],
//             down [H][I], lm_head [V][H] (also the embedding table), in the
//             weight dtype; norm weight [H] f32
//   acts      f32 vectors of one token, one buffer per kernel output so no
//             timed launch feeds on its own result (a repeated in-place
//             silu*mul would grow without bound)
//   KV        one layer's K and V, ceil(context / block_size) blocks each
//   ints      the step's integer arrays and the sampling parameters
//   flush     flush_bytes (optional), overwritten between timed launches
//
// Every value is small and deterministic (k / 2^e for a small integer k:
// exact in f32, f16 and bf16), so nothing overflows or turns NaN however many
// times a kernel repeats. Sampling runs at temperature 1 without penalties:
// the kernel scales the logits in place, and by 1 that changes nothing.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../../kernels/launchers.h"
#include "abi_guard.h"
#include "device.h"
#include "device_model.h"
#include "kernel_timing.h"

#ifndef HIPSERVE_HIP_ARCHS
#define HIPSERVE_HIP_ARCHS ""
#endif

namespace hs {
namespace hipk {
namespace {

constexpr size_t kFillChunk = size_t{8} << 20;  // host staging of the fills

// Owns everything a run creates on the device.
struct Rig {
  Rig() = default;
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;
  ~Rig() {
    // Nothing to report to here. The stream is drained first: the buffers
    // (members, destroyed after this body) must outlive every queued launch.
    if (stream != nullptr) (void)hipStreamSynchronize(stream);
    if (start != nullptr) (void)hipEventDestroy(start);
    if (stop != nullptr) (void)hipEventDestroy(stop);
    if (stream != nullptr) (void)hipStreamDestroy(stream);
  }
  template <class T>
  Status alloc(size_t bytes, T** out) {
    owned.push_back(std::make_unique<DeviceBuffer>());
    HS_DEV_TRY(owned.back()->reserve(bytes));
    device_bytes += bytes;
    *out = owned.back()->as<T>();
    return Status();
  }

  hipStream_t stream = nullptr;
  hipEvent_t start = nullptr, stop = nullptr;
  void* flush = nullptr;
  size_t flush_bytes = 0;
  uint64_t device_bytes = 0;
  std::vector<std::unique_ptr<DeviceBuffer>> owned;
};

// Element i of every fill: (k - 16) * 2^-e with k in [0, 32).
int32_t pattern(uint64_t i) { return static_cast<int32_t>(((i * 2654435761u) >> 27) & 31u) - 16; }

// f16 bits of a float that is 0 or a normal f16 with at most 10 mantissa bits
// (the fills' values are), so no rounding is needed.
uint16_t f16_bits(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  if ((u & 0x7FFFFFFFu) == 0) return static_cast<uint16_t>(sign);
  const uint32_t e = ((u >> 23) & 0xFFu) - 127u + 15u;
  return static_cast<uint16_t>(sign | (e << 10) | ((u >> 13) & 0x3FFu));
}

// Fills `elems` values of `dtype` (elems % 32 == 0 for Q8_0) at dev with
// pattern() * 2^-e, |value| <= 16 * 2^-e; Q8_0 as blocks of scale 2^-e.
Status fill(void* dev, int32_t dtype, int64_t elems, int e) {
  const float scale = std::ldexp(1.0f, -e);
  const size_t unit = dtype == kQ8_0 ? 34 : dtype == kF32 ? 4 : 2;  // bytes per 32 weights / per value
  const size_t per_unit = dtype == kQ8_0 ? 32 : 1;
  const size_t total = static_cast<size_t>(elems) / per_unit * unit;
  std::vector<uint8_t> host(std::min(total, kFillChunk / unit * unit));
  for (size_t u = 0; u < host.size() / unit; ++u) {
    uint8_t* p = host.data() + u * unit;  // Invariant: u * unit + unit <= host.size()
    if (dtype == kQ8_0) {
      const uint16_t d = f16_bits(scale);
      std::memcpy(p, &d, 2);
      for (size_t j = 0; j < 32; ++j) p[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(pattern(u * 32 + j)));
    } else {
      const float v = static_cast<float>(pattern(u)) * scale;
      uint32_t bits = 0;
      std::memcpy(&bits, &v, 4);
      const uint16_t half = dtype == kF16 ? f16_bits(v) : static_cast<uint16_t>(bits >> 16);  // bf16: exact
      std::memcpy(p, dtype == kF32 ? static_cast<const void*>(&v) : &half, unit);
    }
  }
  // The pattern repeats every host.size() bytes, a multiple of `unit`, as is
  // `total`: every copy is whole units and stays inside both buffers.
  for (size_t off = 0; off < total; off += host.size()) {
    const size_t n = std::min(host.size(), total - off);
    HS_HIP_CHECK(hipMemcpy(static_cast<uint8_t*>(dev) + off, host.data(), n, hipMemcpyHostToDevice));
  }
  return Status();
}

struct Kernel {
  const char* name;
  uint64_t bytes, flops;
  int32_t per_layer, per_step;
  std::function<hipError_t()> launch;
};

Status check_args(const hs_hip_timing_args& a) {
  auto bad = [](const std::string& m) { return make_err(Code::INVALID_ARGUMENT, m, "hs_hip_time_kernels"); };
  auto in = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  if (!in(a.hidden, 1, 1 << 16) || !in(a.intermediate, 1, 1 << 18) || !in(a.vocab, 1, 1 << 20)) {
    return bad("hidden (1..65536), intermediate (1..262144) and vocab (1..1048576) are out of range");
  }
  if (!in(a.head_dim, 2, 256) || a.head_dim % 2 != 0) {
    return bad("head_dim must be even and in 2..256 (got " + std::to_string(a.head_dim) + ")");
  }
  if (!in(a.num_kv_heads, 1, 256) || !in(a.num_heads, 1, 256) || a.num_heads % a.num_kv_heads != 0) {
    return bad("num_heads and num_kv_heads must be in 1..256, num_heads a multiple of num_kv_heads");
  }
  if (!in(a.context, 1, 1 << 20) || !in(a.block_size, 1, 1024)) {
    return bad("context must be in 1..1048576 and block_size in 1..1024");
  }
  if (a.weight_dtype < kF32 || a.weight_dtype > kQ8_0) {
    return bad("weight_dtype must be 0 (f32), 1 (f16), 2 (bf16) or 3 (q8_0), got " + std::to_string(a.weight_dtype));
  }
  if (a.weight_dtype == kQ8_0 && (a.hidden % 32 != 0 || a.intermediate % 32 != 0 || a.num_heads * a.head_dim % 32 != 0)) {
    return bad("q8_0 weights need hidden, intermediate and num_heads * head_dim to be multiples of 32");
  }
  if (!in(a.iterations, 1, 100000)) return bad("iterations must be in 1..100000");
  return Status();
}

// One launch to warm up (code object load, first touch), then the timed ones.
Status time_kernel(Rig& r, const Kernel& kernel, int32_t iterations, double* mean_ms) {
  HS_HIP_CHECK(kernel.launch());
  HS_HIP_CHECK(hipStreamSynchronize(r.stream));
  double total = 0.0;
  float ms = 0.0f;
  if (r.flush == nullptr) {
    HS_HIP_CHECK(hipEventRecord(r.start, r.stream));
    for (int32_t i = 0; i < iterations; ++i) HS_HIP_CHECK(kernel.launch());
    HS_HIP_CHECK(hipEventRecord(r.stop, r.stream));
    HS_HIP_CHECK(hipEventSynchronize(r.stop));
    HS_HIP_CHECK(hipEventElapsedTime(&ms, r.start, r.stop));
    total = ms;
  } else {
    for (int32_t i = 0; i < iterations; ++i) {
      HS_HIP_CHECK(hipMemsetAsync(r.flush, i & 0xFF, r.flush_bytes, r.stream));
      HS_HIP_CHECK(hipEventRecord(r.start, r.stream));
      HS_HIP_CHECK(kernel.launch());
      HS_HIP_CHECK(hipEventRecord(r.stop, r.stream));
      HS_HIP_CHECK(hipEventSynchronize(r.stop));
      HS_HIP_CHECK(hipEventElapsedTime(&ms, r.start, r.stop));
      total += ms;
    }
  }
  *mean_ms = total / iterations;
  return Status();
}

// One decode step's device buffers (owned by the Rig) and launch arguments.
struct Step {
  int32_t dt = kF32, bs = 0, nb = 0, bps = 1;
  int64_t H = 0, I = 0, V = 0, L = 0, hd = 0, qd = 0, kd = 0;
  void *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr, *wg = nullptr, *wu = nullptr, *wd = nullptr;
  void* lm = nullptr;  // lm_head [V][H], also the embedding table
  float *norm_w = nullptr, *x = nullptr, *xn = nullptr, *q = nullptr, *k = nullptr, *v = nullptr, *attn = nullptr;
  float *o = nullptr, *resid = nullptr, *gate = nullptr, *up = nullptr, *act = nullptr, *down = nullptr;
  float *emb = nullptr, *logits = nullptr, *kc = nullptr, *vc = nullptr, *partials = nullptr, *scratch = nullptr;
  int32_t *ints = nullptr, *outs = nullptr;
  AttnArgs at;
  SampleArgs sa;
  RopeArgs rope;
  size_t wbytes(int64_t n, int64_t k_) const { return static_cast<size_t>(n * weight_row_bytes_host(dt, k_)); }
};

Status setup(Rig& r, const hs_hip_timing_args& a, Step* st) {
  Step& p = *st;
  p.dt = a.weight_dtype, p.H = a.hidden, p.I = a.intermediate, p.V = a.vocab, p.L = a.context, p.hd = a.head_dim;
  p.qd = a.num_heads * p.hd, p.kd = a.num_kv_heads * p.hd;
  p.bs = static_cast<int32_t>(a.block_size), p.nb = static_cast<int32_t>((p.L + p.bs - 1) / p.bs);
  p.bps = decode_blocks_per_split(p.bs);
  // Weights [N][K] in the weight dtype.
  const struct { void** p; int64_t n, k; } ws[] = {{&p.wq, p.qd, p.H}, {&p.wk, p.kd, p.H}, {&p.wv, p.kd, p.H},
                                                 {&p.wo, p.H, p.qd},  {&p.wg, p.I, p.H},  {&p.wu, p.I, p.H},
                                                 {&p.wd, p.H, p.I},   {&p.lm, p.V, p.H}};
  for (const auto& w : ws) {
    HS_DEV_TRY(r.alloc(p.wbytes(w.n, w.k), w.p));
    HS_DEV_TRY(fill(*w.p, p.dt, w.n * w.k, 10));
  }
  // f32 vectors, each filled so that no kernel reads uninitialized bits; the
  // KV cache is [block][kv_head][slot][hd] for nb blocks.
  const int64_t cache = static_cast<int64_t>(p.nb) * p.kd * p.bs;
  const struct { float** p; int64_t n; int e; } fs[] = {
      {&p.norm_w, p.H, 3}, {&p.x, p.H, 3},    {&p.xn, p.H, 3},    {&p.q, p.qd, 3},   {&p.k, p.kd, 3},
      {&p.v, p.kd, 3},     {&p.attn, p.qd, 3}, {&p.o, p.H, 3},     {&p.resid, p.H, 3}, {&p.gate, p.I, 3},
      {&p.up, p.I, 3},     {&p.act, p.I, 3},  {&p.down, p.H, 3},  {&p.emb, p.H, 3},   {&p.logits, p.V, 2},
      {&p.kc, cache, 4},   {&p.vc, cache, 4}};
  for (const auto& f : fs) {
    HS_DEV_TRY(r.alloc(static_cast<size_t>(f.n) * 4, f.p));
    HS_DEV_TRY(fill(*f.p, kF32, f.n, f.e));
  }

  // The step's integers and the sampling row's parameters, one upload:
  // | token | position | slot | query_start[2] | seq_len | table[nb] | temperature top_p min_p
  //   presence frequency repetition | top_k sample_index num_logprobs | seed[2] | 3 x (list[1], start[2]) |
  std::vector<uint32_t> w = {static_cast<uint32_t>(p.V / 2), static_cast<uint32_t>(p.L - 1),
                             static_cast<uint32_t>(p.L - 1), 0, 1, static_cast<uint32_t>(p.L)};
  for (int32_t b = 0; b < p.nb; ++b) w.push_back(static_cast<uint32_t>(b));
  const size_t o_params = w.size();
  for (float f : {1.0f, 0.9f, 0.05f, 0.0f, 0.0f, 1.0f}) {
    uint32_t u = 0;
    std::memcpy(&u, &f, 4);
    w.push_back(u);
  }
  for (uint32_t u : {50u, 0u, 1u, 0x12345678u, 0u}) w.push_back(u);  // top_k sample_index num_logprobs seed
  const size_t o_lists = w.size();
  w.resize(w.size() + 12, 0u);  // four empty lists: a placeholder word and starts {0, 0} each
  HS_DEV_TRY(r.alloc(w.size() * 4, &p.ints));
  HS_HIP_CHECK(hipMemcpy(p.ints, w.data(), w.size() * 4, hipMemcpyHostToDevice));
  HS_DEV_TRY(r.alloc(4 * 4, &p.outs));  // token, logprob, top id, top logprob

  // Invariant: every view below is inside `ints` (o_lists + 12 words were uploaded).
  const int32_t* in = p.ints;
  AttnArgs& at = p.at;
  at.num_seqs = 1, at.query_start = in + 3, at.seq_lens = in + 5, at.block_tables = in + 6, at.positions = in + 1;
  at.max_blocks = p.nb, at.n_heads = static_cast<int32_t>(a.num_heads);
  at.n_kv_heads = static_cast<int32_t>(a.num_kv_heads), at.head_dim = static_cast<int32_t>(p.hd);
  at.block_size = p.bs, at.scale = 1.0f / std::sqrt(static_cast<float>(p.hd));
  const int64_t partials = decode_partials_floats(at, static_cast<int32_t>(p.L), p.bps);
  HS_DEV_TRY(r.alloc(static_cast<size_t>(partials) * 4 + 4, &p.partials));
  SampleArgs& sa = p.sa;
  sa.num_seqs = 1, sa.vocab = static_cast<int32_t>(p.V), sa.top_n = 1;
  const float* pf = reinterpret_cast<const float*>(in + o_params);
  sa.temperature = pf, sa.top_p = pf + 1, sa.min_p = pf + 2, sa.presence = pf + 3, sa.frequency = pf + 4;
  sa.repetition = pf + 5, sa.top_k = in + o_params + 6, sa.sample_index = in + o_params + 7;
  sa.num_logprobs = in + o_params + 8, sa.seeds = reinterpret_cast<const uint32_t*>(in + o_params + 9);
  sa.output_tokens = in + o_lists, sa.output_start = in + o_lists + 1;
  sa.prompt_tokens = in + o_lists + 3, sa.prompt_start = in + o_lists + 4;
  sa.banned = in + o_lists + 6, sa.banned_start = in + o_lists + 7;
  sa.bias = in + o_lists + 9, sa.bias_start = in + o_lists + 10;
  sa.bias_values = reinterpret_cast<const float*>(in + o_lists + 9);  // the list is empty: never read
  HS_DEV_TRY(r.alloc(static_cast<size_t>(sample_scratch_floats(sa)) * 4, &p.scratch));
  p.rope.theta = 500000.0f, p.rope.rotary_dim = static_cast<int32_t>(p.hd), p.rope.llama3_factor = 8.0f;  // Llama 3.1
  return Status();
}

// The launches of one batch-1 decode step (device_forward.cc's order, the
// GEMV path a GPU takes for one row), with the roofline's bytes and FLOPs.
// Invariant: every pointer the launches capture is a buffer of the Rig that
// set `p` up, alive until that Rig has drained its stream.
std::vector<Kernel> decode_kernels(const Step& p, hipStream_t s) {
  const uint64_t H = static_cast<uint64_t>(p.H), I = static_cast<uint64_t>(p.I), V = static_cast<uint64_t>(p.V);
  const uint64_t qd = static_cast<uint64_t>(p.qd), kd = static_cast<uint64_t>(p.kd), L = static_cast<uint64_t>(p.L);
  const int32_t dt = p.dt;
  auto gemv = [&](const char* name, const void* w, int64_t n, int64_t k, const float* x, float* y, bool once) {
    return Kernel{name, p.wbytes(n, k) + 4 * static_cast<uint64_t>(n + k), 2 * static_cast<uint64_t>(n * k),
                  once ? 0 : 1, once ? 1 : 0, [=] { return launch_gemv(s, dt, w, n, k, x, 1, y); }};
  };
  const float eps = 1e-5f;
  return {
      {"embed", static_cast<uint64_t>(weight_row_bytes_host(dt, p.H)) + 4 * H, 0, 0, 1,
       [=] { return launch_embed(s, dt, p.lm, p.H, p.ints, 1, p.emb); }},
      {"rmsnorm", 12 * H, 3 * H, 2, 1, [=] { return launch_rmsnorm(s, p.x, p.norm_w, p.xn, 1, p.H, eps); }},
      gemv("gemv q", p.wq, p.qd, p.H, p.xn, p.q, false),
      gemv("gemv k", p.wk, p.kd, p.H, p.xn, p.k, false),
      gemv("gemv v", p.wv, p.kd, p.H, p.xn, p.v, false),
      {"rope q", 8 * qd, 6 * qd, 1, 0,
       [=] { return launch_rope(s, p.q, p.ints + 1, 1, p.at.n_heads, p.at.head_dim, p.rope); }},
      {"rope k", 8 * kd, 6 * kd, 1, 0,
       [=] { return launch_rope(s, p.k, p.ints + 1, 1, p.at.n_kv_heads, p.at.head_dim, p.rope); }},
      {"kv_write", 16 * kd, 0, 1, 0,
       [=] { return launch_kv_write(s, p.k, p.v, p.ints + 2, 1, p.at.n_kv_heads, p.at.head_dim, p.bs, p.kc, p.vc); }},
      {"attn_decode", 8 * L * kd, 4 * L * qd, 1, 0,
       [=] { return launch_attn_decode(s, p.q, p.kc, p.vc, p.at, static_cast<int32_t>(p.L), p.bps, p.partials, p.attn); }},
      gemv("gemv o", p.wo, p.H, p.qd, p.attn, p.o, false),
      // Into a buffer of its own: x stays what rmsnorm reads.
      {"add", 12 * H, H, 2, 0, [=] { return launch_add(s, p.resid, p.o, p.H); }},
      gemv("gemv gate", p.wg, p.I, p.H, p.xn, p.gate, false),
      gemv("gemv up", p.wu, p.I, p.H, p.xn, p.up, false),
      {"silu_mul", 12 * I, 4 * I, 1, 0, [=] { return launch_silu_mul(s, p.gate, p.up, p.act, p.I); }},
      gemv("gemv down", p.wd, p.H, p.I, p.act, p.down, false),
      gemv("gemv lm_head", p.lm, p.V, p.H, p.xn, p.logits, true),
      {"sample", 18 * 4 * V, 10 * V, 0, 1,
       [=] { return launch_sample(s, p.logits, p.sa, p.scratch, p.outs, reinterpret_cast<float*>(p.outs + 1),
                                  p.outs + 2, reinterpret_cast<float*>(p.outs + 3)); }},
  };
}

Status run(const hs_hip_timing_args& a, hs_hip_timing_out* out) {
  Rig r;
  HS_HIP_CHECK(hipStreamCreate(&r.stream));
  HS_HIP_CHECK(hipEventCreate(&r.start));
  HS_HIP_CHECK(hipEventCreate(&r.stop));
  Step step;
  HS_DEV_TRY(setup(r, a, &step));
  if (a.flush_bytes > 0) {  // last, so that a failure here has everything above to free
    r.flush_bytes = static_cast<size_t>(a.flush_bytes);
    HS_DEV_TRY(r.alloc(r.flush_bytes, &r.flush));
  }
  const std::vector<Kernel> kernels = decode_kernels(step, r.stream);
  if (kernels.size() > HS_HIP_TIMING_MAX_KERNELS) {
    return make_err(Code::INTERNAL, "more kernels than HS_HIP_TIMING_MAX_KERNELS", "hs_hip_time_kernels");
  }
  for (const Kernel& kernel : kernels) {
    hs_hip_kernel_time& t = out->kernels[out->count];
    Status st = time_kernel(r, kernel, a.iterations, &t.mean_ms);
    if (!st.ok()) {
      Error e = st.error();
      e.message = std::string(kernel.name) + ": " + e.message;
      return e;
    }
    std::snprintf(t.name, sizeof t.name, "%s", kernel.name);
    t.bytes = kernel.bytes, t.flops = kernel.flops, t.per_layer = kernel.per_layer, t.per_step = kernel.per_step;
    ++out->count;
  }
  out->device_bytes = r.device_bytes;
  return Status();
}

}  // namespace
}  // namespace hipk
}  // namespace hs

extern "C" {

HS_HIP_EXPORT int hs_hip_time_kernels(const hs_hip_timing_args* args, hs_hip_timing_out* out, char* err, size_t cap) {
  return hs::hipk::abi_guarded(err, cap, [&]() -> hs::Status {
    using namespace hs;
    if (args == nullptr || out == nullptr) return make_err(Code::INVALID_ARGUMENT, "null arguments", "hs_hip_time_kernels");
    std::memset(out, 0, sizeof *out);
    HS_DEV_TRY(hipk::check_args(*args));
    Result<hipk::DeviceReport> dev = hipk::discover_device(HIPSERVE_HIP_ARCHS);
    if (!dev.ok()) return dev.error();
    return hipk::run(*args, out);
  });
}

}  // extern "C"
