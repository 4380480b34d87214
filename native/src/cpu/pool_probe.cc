// pool_round_trip_ns (kernels.h): two of the pool's threads pass one cache
// line back and forth. A pool task's hand-off (the caller publishes it, a
// worker joins, both close it) costs a few such trips; on the 2-vCPU VMs
// measured here one trip is ~60-150 ns while the host keeps both vCPUs on
// one CCD and ~450-900 ns while it puts them on two (bench/README.md).
// pool_stress: many small tasks back to back, checking that every item ran
// exactly once and before its task returned (the hand-off's contract).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "cpu/kernels.h"

// The waits spin on plain loads, without PAUSE: under KVM a vCPU that runs
// PAUSE in a loop can be made to exit to the host (pause-loop exiting), and
// with PAUSE in these loops the decode call right after a 1 ms probe ran
// up to 20% slower (median 5%) on the Zen 5 VM (bench/README.md). Without
// it the probe measures the line's trip alone.
#define HS_PROBE_PAUSE() std::atomic_signal_fence(std::memory_order_seq_cst)

namespace hs {
namespace cpu {

namespace {

using Clock = std::chrono::steady_clock;

// flag: 0 before either side; kArrived once the pong side has come; kGaveUp
// once the ping side stopped waiting for it; 2i + 1 = ping i, 2i + 2 = its pong.
constexpr int64_t kArrived = -1;
constexpr int64_t kGaveUp = -2;

struct PingPong {
  alignas(64) std::atomic<int64_t> flag{0};
  alignas(64) int64_t rounds = 0;
  double ns = -1.0;
};

void pong(PingPong* pp) {
  int64_t expect = 0;
  // Exactly one of this CAS and the ping side's kGaveUp CAS succeeds.
  if (!pp->flag.compare_exchange_strong(expect, kArrived, std::memory_order_acq_rel)) return;
  for (int64_t i = 0; i < pp->rounds; ++i) {
    while (pp->flag.load(std::memory_order_acquire) != 2 * i + 1) HS_PROBE_PAUSE();
    pp->flag.store(2 * i + 2, std::memory_order_release);
  }
}

void ping(PingPong* pp) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(200);
  for (int i = 0; pp->flag.load(std::memory_order_acquire) != kArrived; ++i) {
    HS_PROBE_PAUSE();
    if ((i & 1023) == 0 && Clock::now() > deadline) {
      int64_t expect = 0;
      if (pp->flag.compare_exchange_strong(expect, kGaveUp, std::memory_order_acq_rel)) return;
      break;  // the pong side arrived just now
    }
  }
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < pp->rounds; ++i) {
    pp->flag.store(2 * i + 1, std::memory_order_release);
    while (pp->flag.load(std::memory_order_acquire) != 2 * i + 2) HS_PROBE_PAUSE();
  }
  pp->ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / static_cast<double>(pp->rounds);
}

// Item 0 pings, item 1 pongs. One thread handed both (a one-thread pool, or
// a worker so late that its item was stolen) pings alone until the deadline
// and then finds its pong refused: no measurement, no wait beyond 200 ms.
void ping_pong_items(void* ctx, int64_t begin, int64_t end, int) {
  // Invariant: ctx is pool_round_trip_ns's PingPong, alive until its
  // parallel_for returns, which is after every item has run.
  auto* pp = static_cast<PingPong*>(ctx);
  for (int64_t item = begin; item < end; ++item) {
    if (item == 0) {
      ping(pp);
    } else {
      pong(pp);
    }
  }
}

}  // namespace

double pool_round_trip_ns(ThreadPool* pool, int64_t rounds) {
  PingPong pp;
  pp.rounds = rounds < 1 ? 1 : rounds;
  // One range per thread: item 0 and item 1 start on different threads
  // whenever the pool has two.
  parallel_for(pool, 2, ping_pong_items, &pp, kStreamChunks);
  return pp.ns;
}

namespace {

// One task's items: how many times each ran.
struct StressTask {
  static constexpr int64_t kMaxItems = 97;
  std::atomic<int32_t> hits[kMaxItems];
  int64_t n = 0;
  int32_t spin = 0;  // item 0 also spins this many loads: a slow item now and then
};

void stress_items(void* ctx, int64_t begin, int64_t end, int) {
  // Invariant: ctx is one of pool_stress's two StressTasks, and [begin, end)
  // lies within its n <= kMaxItems items.
  auto* st = static_cast<StressTask*>(ctx);
  for (int64_t i = begin; i < end; ++i) {
    st->hits[i].fetch_add(1, std::memory_order_relaxed);
    for (int32_t k = 0; i == 0 && k < st->spin; ++k) HS_PROBE_PAUSE();
  }
}

int64_t not_once(const StressTask& st) {
  int64_t bad = 0;
  for (int64_t i = 0; i < st.n; ++i) bad += st.hits[i].load(std::memory_order_relaxed) != 1 ? 1 : 0;
  return bad;
}

}  // namespace

int64_t pool_stress(ThreadPool* pool, int64_t tasks, uint64_t seed) {
  StressTask st[2];
  uint64_t x = seed | 1;
  int64_t bad = 0;
  for (int64_t t = 0; t < tasks; ++t) {
    StressTask& cur = st[t & 1];
    // Two tasks on, an item that ran late (after its task returned) shows.
    if (t >= 2) bad += not_once(cur);
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
    cur.n = 1 + static_cast<int64_t>(x % StressTask::kMaxItems);
    cur.spin = (x >> 20) % 8 == 0 ? static_cast<int32_t>((x >> 24) % 2000) : 0;
    for (int64_t i = 0; i < cur.n; ++i) cur.hits[i].store(0, std::memory_order_relaxed);
    const int split = (x >> 32) % 2 == 0 ? kStreamChunks : kBalancedChunks;
    parallel_for(pool, cur.n, stress_items, &cur, split);
    bad += not_once(cur);
  }
  for (int64_t t = std::max<int64_t>(0, tasks - 2); t < tasks; ++t) bad += not_once(st[t & 1]);
  return bad;
}

}  // namespace cpu
}  // namespace hs
