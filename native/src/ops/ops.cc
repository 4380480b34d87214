// exports.ops: synchronous single-kernel entry points over typed arrays, so
// every kernel can be checked from TypeScript against a scalar reference.
// This file: registration, SIMD level, threads, philox, read bandwidth,
// the pool's round trip.
#include "ops/ops.h"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "cpu/kernels.h"
#include "huge_region.h"
#include "ops/args.h"

namespace hs {
namespace ops {

cpu::ThreadPool* pool_for(int64_t threads) {
  if (threads <= 0) return cpu::default_pool();
  if (threads > 256) throw ValueErr{"threads must be at most 256"};
  static std::mutex mu;
  static std::map<int64_t, cpu::ThreadPool*> pools;  // kept for the process's life
  std::lock_guard<std::mutex> lk(mu);
  auto it = pools.find(threads);
  if (it != pools.end()) return it->second;
  cpu::ThreadPool* p = cpu::create_pool(static_cast<int>(threads));
  pools[threads] = p;
  return p;
}

namespace {

Napi::Value SimdLevel(const Napi::CallbackInfo& info) {
  return run(info, "ops.simdLevel", [](Napi::Env env) -> Napi::Value {
    return Napi::String::New(env, cpu::simd_level());
  });
}

Napi::Value SimdLevels(const Napi::CallbackInfo& info) {
  return run(info, "ops.simdLevels", [](Napi::Env env) -> Napi::Value {
    // Which levels this CPU can run: try each and restore the current one.
    const std::string current = cpu::simd_level();
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    for (const char* name : {"scalar", "avx2", "avx512"}) {
      if (cpu::set_simd_level(name)) out.Set(n++, Napi::String::New(env, name));
    }
    cpu::set_simd_level(current.c_str());
    return out;
  });
}

Napi::Value SetSimdLevel(const Napi::CallbackInfo& info) {
  return run(info, "ops.setSimdLevel", [&](Napi::Env env) -> Napi::Value {
    const std::string name = str(info[0], "level");
    need(cpu::set_simd_level(name.c_str()),
         "level '" + name + "' is unknown or not supported by this CPU");
    return Napi::String::New(env, cpu::simd_level());
  });
}

// decodePrefetch(on?) -> boolean: whether the packed kernels prefetch in
// software at batch 1 (cpu::decode_prefetch); a boolean argument sets
// it first. For tests and benches: not while kernels run on other threads.
Napi::Value DecodePrefetch(const Napi::CallbackInfo& info) {
  return run(info, "ops.decodePrefetch", [&](Napi::Env env) -> Napi::Value {
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsBoolean()) throw TypeErr{"on must be a boolean"};
      cpu::set_decode_prefetch(info[0].As<Napi::Boolean>().Value());
    }
    return Napi::Boolean::New(env, cpu::decode_prefetch());
  });
}

Napi::Value Threads(const Napi::CallbackInfo& info) {
  return run(info, "ops.threads", [](Napi::Env env) -> Napi::Value {
    return Napi::Number::New(env, cpu::pool_threads(cpu::default_pool()));
  });
}

Napi::Value Philox(const Napi::CallbackInfo& info) {
  return run(info, "ops.philox", [&](Napi::Env env) -> Napi::Value {
    if (!info[0].IsBigInt()) throw TypeErr{"seed must be a bigint"};
    bool lossless = true;
    const uint64_t seed = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
    need(lossless, "seed must fit in 64 unsigned bits");
    const int64_t counter = count(info[1], "counter");
    return Napi::Number::New(env, cpu::philox_uniform(seed, static_cast<uint64_t>(counter)));
  });
}

// Streaming read of a buffer larger than the caches, in GB/s.
// (bytes, threads): the best of 8 reads of the buffer (a burst figure).
// (bytes, threads, passes): `passes` back-to-back reads timed as one, the
// SUSTAINED rate over a window as long as a decode run that reads the same
// bytes per step; bench/decode.ts sets the roofline with it.
// Either way plain reads and reads that also prefetch 2 KiB ahead, each split
// into one range per thread and into several chunks per thread, are all
// tried and the best kept: on the VMs measured here the hardware prefetcher
// alone leaves a good part of the bandwidth unused and every chunk boundary
// restarts a stream, and the matmul kernels prefetch and take one range per
// thread, so the roofline must count with both too.
Napi::Value ReadBandwidth(const Napi::CallbackInfo& info) {
  return run(info, "ops.readBandwidth", [&](Napi::Env env) -> Napi::Value {
    const int64_t bytes = count(info[0], "bytes");
    const int64_t threads = count(info[1], "threads");
    const int64_t passes = count_or(info, 2, "passes", 0);
    need(bytes >= (1 << 20) && bytes <= (int64_t{8} << 30), "bytes must be within [1 MiB, 8 GiB]");
    need(passes <= 100000, "passes must be at most 100000");
    cpu::ThreadPool* pool = pool_for(threads);
    const int64_t words = bytes / 8;
    // Huge-page memory, as a CPU model's weights are (model/mapped_file.cc):
    // a read of it pays the same TLB cost as a decode step's read of the weights.
    HugeRegion hb(static_cast<size_t>(words * 8));
    need(hb.data() != nullptr, "could not allocate the buffer");
    // Invariant: the region holds words * 8 bytes from a 2 MiB-aligned start.
    auto* buf = reinterpret_cast<uint64_t*>(hb.data());
    for (int64_t i = 0; i < words; ++i) buf[i] = static_cast<uint64_t>(i);
    cpu::ReadSpan span;
    span.p = reinterpret_cast<const uint8_t*>(buf);
    span.bytes = words * 8;
    uint64_t check = 0;
    double best = 0.0;
    const int64_t windows = passes > 0 ? 4 : 8;
    const int64_t per_window = passes > 0 ? passes : 1;
    for (int64_t rep = 0; rep < windows; ++rep) {
      const bool prefetch = rep % 2 == 0;
      const int split = (rep / 2) % 2 == 0 ? cpu::kStreamChunks : cpu::kBalancedChunks;
      const auto t0 = std::chrono::steady_clock::now();
      check += cpu::stream_read(pool, &span, 1, per_window, prefetch, split);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, static_cast<double>(words * 8 * per_window) / s / 1e9);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("gbPerSecond", Napi::Number::New(env, best));
    o.Set("checksum", Napi::Number::New(env, static_cast<double>(check & 0xffff)));
    return o;
  });
}

// poolRoundTrip(rounds, threads?) -> { nanoseconds: number | null, threads }:
// the cache-line round trip between two of the pool's threads (the mean of
// `rounds` ping-pongs, cpu::pool_round_trip_ns); null when the pool has one
// thread or its second thread did not join within 200 ms. For benches: on
// the VMs measured here it tells how the host placed the two vCPUs.
Napi::Value PoolRoundTrip(const Napi::CallbackInfo& info) {
  return run(info, "ops.poolRoundTrip", [&](Napi::Env env) -> Napi::Value {
    const int64_t rounds = count(info[0], "rounds");
    const int64_t threads = count_or(info, 1, "threads", 0);
    need(rounds >= 1 && rounds <= 1000000, "rounds must be within [1, 1000000]");
    cpu::ThreadPool* pool = pool_for(threads);
    const double ns = cpu::pool_round_trip_ns(pool, rounds);
    Napi::Object o = Napi::Object::New(env);
    o.Set("nanoseconds", ns >= 0.0 ? Napi::Number::New(env, ns) : env.Null());
    o.Set("threads", Napi::Number::New(env, cpu::pool_threads(pool)));
    return o;
  });
}

// poolStress(tasks, seed, threads?) -> { bad: number, threads }: runs
// `tasks` tiny tasks over the pool (cpu::pool_stress) and counts the items
// that did not run exactly once within their task. For tests of the pool.
Napi::Value PoolStress(const Napi::CallbackInfo& info) {
  return run(info, "ops.poolStress", [&](Napi::Env env) -> Napi::Value {
    const int64_t tasks = count(info[0], "tasks");
    const int64_t seed = count(info[1], "seed");
    const int64_t threads = count_or(info, 2, "threads", 0);
    need(tasks >= 1 && tasks <= 10000000, "tasks must be within [1, 10000000]");
    cpu::ThreadPool* pool = pool_for(threads);
    const int64_t bad = cpu::pool_stress(pool, tasks, static_cast<uint64_t>(seed));
    Napi::Object o = Napi::Object::New(env);
    o.Set("bad", Napi::Number::New(env, static_cast<double>(bad)));
    o.Set("threads", Napi::Number::New(env, cpu::pool_threads(pool)));
    return o;
  });
}

}  // namespace
}  // namespace ops

void RegisterOps(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("simdLevel", Napi::Function::New(env, ops::SimdLevel, "simdLevel"));
  o.Set("simdLevels", Napi::Function::New(env, ops::SimdLevels, "simdLevels"));
  o.Set("setSimdLevel", Napi::Function::New(env, ops::SetSimdLevel, "setSimdLevel"));
  o.Set("decodePrefetch", Napi::Function::New(env, ops::DecodePrefetch, "decodePrefetch"));
  o.Set("threads", Napi::Function::New(env, ops::Threads, "threads"));
  o.Set("philox", Napi::Function::New(env, ops::Philox, "philox"));
  o.Set("readBandwidth", Napi::Function::New(env, ops::ReadBandwidth, "readBandwidth"));
  o.Set("poolRoundTrip", Napi::Function::New(env, ops::PoolRoundTrip, "poolRoundTrip"));
  o.Set("poolStress", Napi::Function::New(env, ops::PoolStress, "poolStress"));
  ops::RegisterTensorOps(env, o);
  ops::RegisterElementwiseOps(env, o);
  ops::RegisterAttentionOps(env, o);
  ops::RegisterSampleOps(env, o);
  exports.Set("ops", o);
}

}  // namespace hs
