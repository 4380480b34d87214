// Persistent worker pool. The caller takes part in every parallel_for; workers
// spin briefly on a generation counter after each task (decode issues dozens
// of small tasks per token, a futex wake-up per task would cost more than the
// task), then sleep on a condition variable. Items are handed out either from
// one shared counter (balanced) or as one range per thread, a thread out of
// work taking the back half of another's (streams: decode GEMVs).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cpu/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define HS_PAUSE() _mm_pause()
#else
#define HS_PAUSE() ((void)0)
#endif

namespace hs {
namespace cpu {

using TaskFn = void (*)(void* ctx, int64_t begin, int64_t end, int thread);

namespace {
thread_local bool t_in_pool = false;  // nested parallel_for runs inline

int64_t spin_budget_us() {
  const char* env = std::getenv("HIPSERVE_SPIN_US");
  if (env != nullptr && *env != '\0') return std::max(0L, std::atol(env));
  return 300;
}
}  // namespace

class ThreadPool {
 public:
  explicit ThreadPool(int threads)
      : n_(std::max(1, threads)), spin_us_(spin_budget_us()), ranges_(new RangeSlot[static_cast<size_t>(n_)]) {
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
      generation_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int threads() const { return n_; }

  void run(int64_t n, TaskFn fn, void* ctx, int chunks_per_thread) {
    if (n <= 0) return;
    if (n_ == 1 || n == 1 || t_in_pool) {
      fn(ctx, 0, n, 0);
      return;
    }
    std::lock_guard<std::mutex> submit(submit_mu_);  // one task at a time
    fn_ = fn;
    ctx_ = ctx;
    n_items_ = n;
    // Several chunks per thread, taken from one counter, balance items of
    // uneven cost. One range per thread keeps each thread's memory stream
    // unbroken: the thread walks its range from the front in small chunks,
    // and a thread that is done takes the BACK HALF of another's range as
    // its own (a worker preempted, descheduled or asleep loses only its tail).
    stream_ = chunks_per_thread <= 1 && n < (int64_t{1} << 31);
    if (stream_) {
      for (int t = 0; t < n_; ++t) {
        ranges_[static_cast<size_t>(t)].r.store(pack(n * t / n_, n * (t + 1) / n_), std::memory_order_relaxed);
      }
    }
    // A stream range is claimed a quarter of what is left at a time, down to
    // one item (take()): fixed chunks of 1-8 per range measured alike
    // (bench/README.md), shrinking ones shorten the wait at the end. The
    // shared counter hands out chunk_ items at a time.
    const int64_t parts = static_cast<int64_t>(n_) * std::max(1, chunks_per_thread);
    chunk_ = std::max<int64_t>(1, (n + parts - 1) / parts);
    next_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    const uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
    ticket_.store(gen << kGenShift, std::memory_order_release);
    generation_.store(gen, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
    t_in_pool = true;
    work(0);
    t_in_pool = false;
    // Close the task: a worker that has not joined yet (asleep, or
    // descheduled because there are more runnable threads than cores) will
    // not join it, so only the workers that did are waited for.
    const uint64_t t = ticket_.fetch_or(kClosed, std::memory_order_acq_rel);
    const int joined = static_cast<int>(t & kJoinedMask);
    for (int i = 0; finished_.load(std::memory_order_acquire) != joined; ++i) {
      if (i < 4096) {
        HS_PAUSE();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  // A range [begin, end) of items in one word, so that its owner (from the
  // front) and a thief (from the back) claim chunks with one CAS each.
  struct alignas(64) RangeSlot {
    std::atomic<uint64_t> r{0};
  };
  static uint64_t pack(int64_t b, int64_t e) { return (static_cast<uint64_t>(b) << 32) | static_cast<uint64_t>(e); }
  static int64_t range_begin(uint64_t v) { return static_cast<int64_t>(v >> 32); }
  static int64_t range_end(uint64_t v) { return static_cast<int64_t>(v & 0xffffffffu); }

  // Items claimed at once from the front of a stream range holding `left`:
  // a quarter of what is left, down to one item. Claims shrink toward the
  // end of a range, so the thread that finishes first waits for at most a
  // small last claim of the other's (fixed chunks of chunk_ left the caller
  // waiting 2.5-5 us per decode GEMV; shrinking to chunk_ / 8 measured +2-4%
  // at batch 1, to one item with steal-half below +1-1.5% more).
  static int64_t take(int64_t left) { return std::max<int64_t>(1, left / 4); }

  // Walks this thread's range from the front; when it is empty, takes the
  // back half of another thread's range as its own range (one new stream,
  // which that thread may in turn halve) and walks that. Stealing shrinking
  // claims from the back instead started a new stream at every claim, each
  // further back: the halves measured +0.9-1.5% at batch 1 (f16 and Q8_0,
  // one call each in turn in ABBA order, Zen 5 VM; bench/README.md).
  void work_stream(int thread) {
    std::atomic<uint64_t>& own = ranges_[static_cast<size_t>(thread)].r;
    for (;;) {
      for (uint64_t v = own.load(std::memory_order_acquire);;) {
        const int64_t b = range_begin(v), e = range_end(v);
        if (b >= e) break;
        const int64_t nb = std::min(e, b + take(e - b));
        if (!own.compare_exchange_weak(v, pack(nb, e), std::memory_order_acq_rel)) continue;
        fn_(ctx_, b, nb, thread);
        v = own.load(std::memory_order_acquire);
      }
      if (!steal_half(thread, own)) return;
    }
  }

  // Moves the back half of the first non-empty other range into `own`
  // (empty: its owner is this thread, and nobody CASes an empty slot).
  // False when every other range is empty. Every item is still claimed by
  // exactly one CAS: the thief's on the victim's slot, or later its own
  // claims from `own`, or another thief's halving of `own`.
  bool steal_half(int thread, std::atomic<uint64_t>& own) {
    for (int k = 1; k < n_; ++k) {
      std::atomic<uint64_t>& other = ranges_[static_cast<size_t>((thread + k) % n_)].r;
      for (uint64_t v = other.load(std::memory_order_acquire);;) {
        const int64_t b = range_begin(v), e = range_end(v);
        if (b >= e) break;
        const int64_t mid = b + (e - b) / 2;  // [mid, e) holds at least one item
        if (!other.compare_exchange_weak(v, pack(b, mid), std::memory_order_acq_rel)) continue;
        own.store(pack(mid, e), std::memory_order_release);
        return true;
      }
    }
    return false;
  }

  void work(int thread) {
    if (stream_) {
      work_stream(thread);
      return;
    }
    for (;;) {
      const int64_t b = next_.fetch_add(chunk_, std::memory_order_relaxed);
      if (b >= n_items_) break;
      fn_(ctx_, b, std::min(n_items_, b + chunk_), thread);
    }
  }

  // Joins task `gen` unless the caller already closed it (or moved on).
  bool join(uint64_t gen) {
    uint64_t t = ticket_.load(std::memory_order_acquire);
    for (;;) {
      if ((t >> kGenShift) != gen || (t & kClosed) != 0) return false;
      if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) return true;
    }
  }

  void worker_loop(int index) {
    t_in_pool = true;
    // Generation 0 is the pool's birth: a task submitted before this thread
    // got here must still be seen as new.
    uint64_t seen = 0;
    for (;;) {
      // Spin, then sleep.
      uint64_t g = generation_.load(std::memory_order_acquire);
      if (g == seen) {
        const auto start = std::chrono::steady_clock::now();
        for (int i = 1;; ++i) {
          HS_PAUSE();
          g = generation_.load(std::memory_order_acquire);
          if (g != seen) break;
          if ((i & 255) == 0 && std::chrono::steady_clock::now() - start >
                                    std::chrono::microseconds(spin_us_)) {
            std::unique_lock<std::mutex> lk(mu_);
            sleepers_.fetch_add(1, std::memory_order_seq_cst);
            cv_.wait(lk, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
            sleepers_.fetch_sub(1, std::memory_order_seq_cst);
            g = generation_.load();
            break;
          }
        }
      }
      seen = g;
      if (stop_.load()) return;
      if (join(g)) {
        work(index);
        finished_.fetch_add(1, std::memory_order_acq_rel);
      }
    }
  }

  const int n_;
  const int64_t spin_us_;
  std::vector<std::thread> workers_;
  std::mutex submit_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::unique_ptr<RangeSlot[]> ranges_;  // one per thread index (stream_ tasks)
  // ticket_ = [generation | closed bit | workers joined]
  static constexpr int kGenShift = 24;
  static constexpr uint64_t kClosed = uint64_t{1} << 23;
  static constexpr uint64_t kJoinedMask = kClosed - 1;
  // One cache line per party that writes it, so that a line moves between
  // cores once per task rather than once per store (a line crossed the two
  // vCPUs of the Zen 5 VM in ~250-300 ns). The task line, written by the
  // caller only, read by workers: the workers spin on generation_ and get
  // the task with it. With these fields sharing two lines, a worker spinning
  // on generation_ pulled the line back between the caller's stores; decode
  // measured +5-7% (Q8_0) and +0-2% (f16) at batch 1 with this layout
  // (ABBA process pairs; batch 8 the same).
  alignas(64) std::atomic<uint64_t> generation_{0};
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_items_ = 0;
  int64_t chunk_ = 1;
  bool stream_ = false;
  alignas(64) std::atomic<uint64_t> ticket_{0};  // the joining workers' CAS and the caller's close
  alignas(64) std::atomic<int> finished_{0};      // workers count out, the caller waits on it
  alignas(64) std::atomic<int64_t> next_{0};      // balanced tasks: every thread's claims
  char pad_[64 - sizeof(std::atomic<int64_t>)] = {};  // nothing after the pool shares next_'s line
};

ThreadPool* create_pool(int threads) { return new ThreadPool(threads); }
void destroy_pool(ThreadPool* pool) { delete pool; }

ThreadPool* default_pool() {
  // Never destroyed: workers live as long as the process.
  static ThreadPool* pool = [] {
    int n = 0;
    const char* env = std::getenv("HIPSERVE_THREADS");
    if (env != nullptr && *env != '\0') n = std::atoi(env);
    if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    return new ThreadPool(std::max(1, std::min(n, 256)));
  }();
  return pool;
}

int pool_threads(ThreadPool* pool) { return pool->threads(); }

void parallel_for(ThreadPool* pool, int64_t n, TaskFn fn, void* ctx, int chunks_per_thread) {
  if (pool == nullptr) {
    if (n > 0) fn(ctx, 0, n, 0);
    return;
  }
  pool->run(n, fn, ctx, chunks_per_thread);
}

}  // namespace cpu
}  // namespace hs
