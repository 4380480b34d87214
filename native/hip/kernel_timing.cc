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

Status run(const hs_hip_timing_args& a, hs_hip_timing_out* out) {
  Rig r;
  HS_HIP_CHECK(hipStreamCreate(&r.stream));
  HS_HIP_CHECK(hipEventCreate(&r.start));
  HS_HIP_CHECK(hipEventCreate(&r.stop));
  const int32_t dt = a.weight_dtype;
  const int64_t H = a.hidden, I = a.intermediate, V = a.vocab, L = a.context, hd = a.head_dim;
  const int64_t qd = a.num_heads * hd, kd = a.num_kv_heads * hd;
  const int32_t bs = static_cast<int32_t>(a.block_size);
  const int32_t nb = static_cast<int32_t>((L + bs - 1) / bs);
  auto wbytes = [&](int64_t n, int64_t k) { return static_cast<size_t>(n * weight_row_bytes_host(dt, k)); };

  // Weights [N][K] in the weight dtype.
  void *wq, *wk, *wv, *wo, *wg, *wu, *wd, *lm;
  const struct { void** p; int64_t n, k; } ws[] = {{&wq, qd, H}, {&wk, kd, H}, {&wv, kd, H}, {&wo, H, qd},
                                                 {&wg, I, H},  {&wu, I, H},  {&wd, H, I},  {&lm, V, H}};
  for (const auto& w : ws) {
    HS_DEV_TRY(r.alloc(wbytes(w.n, w.k), w.p));
    HS_DEV_TRY(fill(*w.p, dt, w.n * w.k, 10));
  }
  // f32 activations, each filled so that no kernel reads uninitialized bits.
  float *norm_w, *x, *xn, *q, *k, *v, *attn, *o, *resid, *gate, *up, *act, *down, *emb, *logits;
  const struct { float** p; int64_t n; } fs[] = {{&norm_w, H}, {&x, H},     {&xn, H},   {&q, qd},    {&k, kd},
                                                {&v, kd},     {&attn, qd}, {&o, H},    {&resid, H}, {&gate, I},
                                                {&up, I},     {&act, I},   {&down, H}, {&emb, H},   {&logits, V}};
  for (const auto& f : fs) {
    HS_DEV_TRY(r.alloc(static_cast<size_t>(f.n) * 4, f.p));
    HS_DEV_TRY(fill(*f.p, kF32, f.n, f.p == &logits ? 2 : 3));
  }
  float *kc, *vc;
  const int64_t cache = static_cast<int64_t>(nb) * kd * bs;  // [block][kv_head][slot][hd]
  HS_DEV_TRY(r.alloc(static_cast<size_t>(cache) * 4, &kc));
  HS_DEV_TRY(r.alloc(static_cast<size_t>(cache) * 4, &vc));
  HS_DEV_TRY(fill(kc, kF32, cache, 4));
  HS_DEV_TRY(fill(vc, kF32, cache, 4));

  // The step's integers and the sampling row's parameters, one upload:
  // | token | position | slot | query_start[2] | seq_len | table[nb] | temperature top_p min_p
  //   presence frequency repetition | top_k sample_index num_logprobs | seed[2] | 3 x (list[1], start[2]) |
  std::vector<uint32_t> w = {static_cast<uint32_t>(V / 2), static_cast<uint32_t>(L - 1), static_cast<uint32_t>(L - 1),
                             0, 1, static_cast<uint32_t>(L)};
  for (int32_t b = 0; b < nb; ++b) w.push_back(static_cast<uint32_t>(b));
  const size_t o_params = w.size();
  for (float f : {1.0f, 0.9f, 0.05f, 0.0f, 0.0f, 1.0f}) {
    uint32_t u = 0;
    std::memcpy(&u, &f, 4);
    w.push_back(u);
  }
  for (uint32_t u : {50u, 0u, 1u, 0x12345678u, 0u}) w.push_back(u);  // top_k sample_index num_logprobs seed
  const size_t o_lists = w.size();
  w.resize(w.size() + 9, 0u);  // three empty lists: a placeholder word and starts {0, 0} each
  int32_t *ints, *outs;
  HS_DEV_TRY(r.alloc(w.size() * 4, &ints));
  HS_HIP_CHECK(hipMemcpy(ints, w.data(), w.size() * 4, hipMemcpyHostToDevice));
  HS_DEV_TRY(r.alloc(4 * 4, &outs));  // token, logprob, top id, top logprob

  AttnArgs at;
  at.num_seqs = 1, at.query_start = ints + 3, at.seq_lens = ints + 5, at.block_tables = ints + 6;
  at.positions = ints + 1, at.max_blocks = nb, at.n_heads = static_cast<int32_t>(a.num_heads);
  at.n_kv_heads = static_cast<int32_t>(a.num_kv_heads), at.head_dim = static_cast<int32_t>(hd);
  at.block_size = bs, at.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int32_t bps = decode_blocks_per_split(bs);
  float *partials, *scratch;
  HS_DEV_TRY(r.alloc(static_cast<size_t>(decode_partials_floats(at, static_cast<int32_t>(L), bps)) * 4 + 4, &partials));
  SampleArgs sa;
  sa.num_seqs = 1, sa.vocab = static_cast<int32_t>(V), sa.top_n = 1;
  // Invariant: every view below is inside `ints` (o_lists + 9 words were uploaded).
  const float* pf = reinterpret_cast<const float*>(ints + o_params);
  sa.temperature = pf, sa.top_p = pf + 1, sa.min_p = pf + 2, sa.presence = pf + 3, sa.frequency = pf + 4;
  sa.repetition = pf + 5, sa.top_k = ints + o_params + 6, sa.sample_index = ints + o_params + 7;
  sa.num_logprobs = ints + o_params + 8, sa.seeds = reinterpret_cast<const uint32_t*>(ints + o_params + 9);
  sa.output_tokens = ints + o_lists, sa.output_start = ints + o_lists + 1;
  sa.prompt_tokens = ints + o_lists + 3, sa.prompt_start = ints + o_lists + 4;
  sa.banned = ints + o_lists + 6, sa.banned_start = ints + o_lists + 7;
  HS_DEV_TRY(r.alloc(static_cast<size_t>(sample_scratch_floats(sa)) * 4, &scratch));
  if (a.flush_bytes > 0) {  // last, so that a failure here frees everything above
    r.flush_bytes = static_cast<size_t>(a.flush_bytes);
    HS_DEV_TRY(r.alloc(r.flush_bytes, &r.flush));
  }
  RopeArgs rope;  // Llama 3.1's
  rope.theta = 500000.0f, rope.rotary_dim = static_cast<int32_t>(hd), rope.llama3_factor = 8.0f;

  hipStream_t s = r.stream;
  const float eps = 1e-5f;
  const uint64_t u4 = 4;
  auto gemv = [&](const char* name, const void* wt, int64_t n, int64_t kk, const float* in, float* y, int32_t per_step) {
    return Kernel{name, wbytes(n, kk) + u4 * static_cast<uint64_t>(n + kk), 2 * static_cast<uint64_t>(n * kk),
                  per_step ? 0 : 1, per_step, [=] { return launch_gemv(s, dt, wt, n, kk, in, 1, y); }};
  };
  const uint64_t uH = static_cast<uint64_t>(H), uI = static_cast<uint64_t>(I), uV = static_cast<uint64_t>(V);
  const std::vector<Kernel> kernels = {
      {"embed", static_cast<uint64_t>(weight_row_bytes_host(dt, H)) + 4 * uH, 0, 0, 1,
       [=] { return launch_embed(s, dt, lm, H, ints, 1, emb); }},
      {"rmsnorm", 12 * uH, 3 * uH, 2, 1, [=] { return launch_rmsnorm(s, x, norm_w, xn, 1, H, eps); }},
      gemv("gemv q", wq, qd, H, xn, q, 0),
      gemv("gemv k", wk, kd, H, xn, k, 0),
      gemv("gemv v", wv, kd, H, xn, v, 0),
      {"rope q", 8 * static_cast<uint64_t>(qd), 6 * static_cast<uint64_t>(qd), 1, 0,
       [=] { return launch_rope(s, q, ints + 1, 1, at.n_heads, at.head_dim, rope); }},
      {"rope k", 8 * static_cast<uint64_t>(kd), 6 * static_cast<uint64_t>(kd), 1, 0,
       [=] { return launch_rope(s, k, ints + 1, 1, at.n_kv_heads, at.head_dim, rope); }},
      {"kv_write", 16 * static_cast<uint64_t>(kd), 0, 1, 0,
       [=] { return launch_kv_write(s, k, v, ints + 2, 1, at.n_kv_heads, at.head_dim, bs, kc, vc); }},
      {"attn_decode", 8 * static_cast<uint64_t>(L * kd), 4 * static_cast<uint64_t>(L * qd), 1, 0,
       [=] { return launch_attn_decode(s, q, kc, vc, at, static_cast<int32_t>(L), bps, partials, attn); }},
      gemv("gemv o", wo, H, qd, attn, o, 0),
      {"add", 12 * uH, uH, 2, 0, [=] { return launch_add(s, resid, o, H); }},
      gemv("gemv gate", wg, I, H, xn, gate, 0),
      gemv("gemv up", wu, I, H, xn, up, 0),
      {"silu_mul", 12 * uI, 4 * uI, 1, 0, [=] { return launch_silu_mul(s, gate, up, act, I); }},
      gemv("gemv down", wd, H, I, act, down, 0),
      gemv("gemv lm_head", lm, V, H, xn, logits, 1),
      {"sample", 18 * 4 * uV, 10 * uV, 0, 1,
       [=] { return launch_sample(s, logits, sa, scratch, outs, reinterpret_cast<float*>(outs + 1), outs + 2,
                                  reinterpret_cast<float*>(outs + 3)); }},
  };
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
