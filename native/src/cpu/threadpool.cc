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
      : n_(std::max(1, threads)),
        spin_us_(spin_budget_us()),
        slots_(new Slot[static_cast<size_t>(n_)]),
        seen_done_(static_cast<size_t>(n_), 0),
        read_done_(static_cast<size_t>(n_), 0) {
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
    const uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
    const uint64_t tag = gen & kTagMask;
    // Several chunks per thread, taken from one counter, balance items of
    // uneven cost. One range per thread keeps each thread's memory stream
    // unbroken: the thread walks its range from the front in small chunks,
    // and a thread that is done takes the BACK HALF of another's range as
    // its own (a worker preempted, descheduled or asleep loses only its tail).
    const bool stream = chunks_per_thread <= 1 && n <= kMaxWordCount;
    const int64_t parts = std::min<int64_t>(kMaxWordCount, int64_t{n_} * std::max(1, chunks_per_thread));
    const int64_t chunk = std::max<int64_t>(1, (n + parts - 1) / parts);
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    n_items_.store(n, std::memory_order_relaxed);
    chunk_.store(chunk, std::memory_order_relaxed);
    stream_.store(stream, std::memory_order_relaxed);
    // The claim words carry the task's tag and are written after the task's
    // fields (release): a claim that succeeds on them sees those fields.
    // The caller's first claim is taken here, before the task is out, so
    // that it runs while the stores travel (a locked claim would wait for
    // them: ~2 cache-line trips when the two vCPUs sit on two CCDs).
    int64_t first = 0;
    if (stream) {
      const int64_t own = n / n_;  // the caller's range is [0, own)
      first = own > 0 ? take(own) : 0;
      slots_[0].range.store(pack_word(tag, first, own), std::memory_order_release);
      for (int t = 1; t < n_; ++t) {
        slots_[static_cast<size_t>(t)].range.store(pack_word(tag, n * t / n_, n * (t + 1) / n_),
                                                  std::memory_order_release);
      }
    } else {
      first = chunk;
      next_.store(pack_word(tag, 1, (n + chunk - 1) / chunk), std::memory_order_release);
    }
    generation_.store(gen, std::memory_order_release);
    t_in_pool = true;
    int64_t done = 0;
    // Workers known to be asleep are woken first (an item may wait for
    // another thread: the pool probe's ping waits for its pong). One that
    // went to sleep just now is caught after the first claim: the fence
    // pairs with its increment of sleepers_ before it waits (one of the two
    // sees the other).
    const bool asleep = sleepers_.load(std::memory_order_relaxed) > 0;
    if (asleep) wake_sleepers();
    if (first > 0) run_items(0, 0, std::min(first, n), &done);
    if (!asleep) wake_sleepers();
    work(0, tag, &done);
    t_in_pool = false;
    // Every item is claimed by now (work() returns once no claim word of
    // this task holds any); wait for the ones other threads still run. Each
    // worker counts the items it completed, ever, in its own slot: the task
    // is over once this task's share of those counts and the caller's add
    // up to n. A worker that never came (asleep, descheduled) has nothing
    // to wait for, so no join or close is needed.
    for (int i = 0;; ++i) {
      int64_t total = done;
      for (int t = 1; t < n_; ++t) {
        const auto ts = static_cast<size_t>(t);
        read_done_[ts] = slots_[ts].done.load(std::memory_order_acquire);
        total += read_done_[ts] - seen_done_[ts];
      }
      if (total >= n) break;
      if (i < 4096) {
        HS_PAUSE();
      } else {
        std::this_thread::yield();
      }
    }
    for (int t = 1; t < n_; ++t) seen_done_[static_cast<size_t>(t)] = read_done_[static_cast<size_t>(t)];
  }

 private:
  // A task's claim words hold everything a claim needs to know whether
  // anything is left: [first, end) of a stream range, or the next chunk and
  // the chunk count of a balanced task's counter; never a field of the
  // task line, which a worker still on an older task may read after the
  // caller has moved on. They also carry the task's tag (the generation's
  // low 16 bits), so that such a worker claims nothing of a newer task; were
  // a worker stalled for 65536 tasks to meet one with its tag, the items it
  // claims are that task's, and it runs them with that task's fields, which
  // it reads after each claim (the caller cannot move on before they run).
  static constexpr uint64_t kTagMask = 0xffff;
  static constexpr int64_t kMaxWordCount = (int64_t{1} << 24) - 1;
  static uint64_t pack_word(uint64_t tag, int64_t b, int64_t e) {
    return (tag << 48) | (static_cast<uint64_t>(b) << 24) | static_cast<uint64_t>(e);
  }
  static uint64_t tag_of(uint64_t v) { return v >> 48; }
  static int64_t word_begin(uint64_t v) { return static_cast<int64_t>((v >> 24) & 0xffffff); }
  static int64_t word_end(uint64_t v) { return static_cast<int64_t>(v & 0xffffff); }

  // One line per thread: its stream range (CASed by it and by thieves) and
  // the count of items it has completed since it started (written by it
  // alone, read by the caller at the end of a task: the line the caller
  // last read for a steal).
  struct alignas(64) Slot {
    std::atomic<uint64_t> range{0};
    std::atomic<int64_t> done{0};
  };

  // Wakes the workers that sleep (after a full fence: see run()).
  void wake_sleepers() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
  }

  // Items claimed at once from the front of a stream range holding `left`:
  // a quarter of what is left, down to one item. Claims shrink toward the
  // end of a range, so the thread that finishes first waits for at most a
  // small last claim of the other's (fixed chunks of chunk_ left the caller
  // waiting 2.5-5 us per decode GEMV; shrinking to chunk_ / 8 measured +2-4%
  // at batch 1, to one item with steal-half below +1-1.5% more).
  static int64_t take(int64_t left) { return std::max<int64_t>(1, left / 4); }

  // Runs items [b, e) of the task whose claim word this thread just won and
  // counts them (a worker publishes its count for the caller's wait).
  void run_items(int thread, int64_t b, int64_t e, int64_t* done) {
    fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), b, e, thread);
    *done += e - b;
    if (thread != 0) slots_[static_cast<size_t>(thread)].done.store(*done, std::memory_order_release);
  }

  // Walks this thread's range from the front; when it is empty, takes the
  // back half of another thread's range as its own range (one new stream,
  // which that thread may in turn halve) and walks that. Stealing shrinking
  // claims from the back instead started a new stream at every claim, each
  // further back: the halves measured +0.9-1.5% at batch 1 (f16 and Q8_0,
  // one call each in turn in ABBA order, Zen 5 VM; bench/README.md).
  void work_stream(int thread, uint64_t tag, int64_t* done) {
    std::atomic<uint64_t>& own = slots_[static_cast<size_t>(thread)].range;
    for (;;) {
      for (uint64_t v = own.load(std::memory_order_acquire);;) {
        if (tag_of(v) != tag) return;  // a newer task's range: this one is over
        const int64_t b = word_begin(v), e = word_end(v);
        if (b >= e) break;
        const int64_t nb = std::min(e, b + take(e - b));
        if (!own.compare_exchange_weak(v, pack_word(tag, nb, e), std::memory_order_acq_rel)) continue;
        run_items(thread, b, nb, done);
        v = own.load(std::memory_order_acquire);
      }
      if (!steal_half(thread, own, tag)) return;
    }
  }

  // Moves the back half of the first non-empty other range of this task
  // into `own` (empty: its owner is this thread, and nobody CASes an empty
  // slot or, until the task's items are all done, rewrites it). False when
  // every other range is empty. Every item is still claimed by exactly one
  // CAS: the thief's on the victim's slot, or later its own claims from
  // `own`, or another thief's halving of `own`.
  bool steal_half(int thread, std::atomic<uint64_t>& own, uint64_t tag) {
    for (int k = 1; k < n_; ++k) {
      std::atomic<uint64_t>& other = slots_[static_cast<size_t>((thread + k) % n_)].range;
      for (uint64_t v = other.load(std::memory_order_acquire);;) {
        if (tag_of(v) != tag) break;
        const int64_t b = word_begin(v), e = word_end(v);
        if (b >= e) break;
        const int64_t mid = b + (e - b) / 2;  // [mid, e) holds at least one item
        if (!other.compare_exchange_weak(v, pack_word(tag, b, mid), std::memory_order_acq_rel)) continue;
        own.store(pack_word(tag, mid, e), std::memory_order_release);
        return true;
      }
    }
    return false;
  }

  // Chunks of chunk_ items from the shared counter, [next, count) chunks.
  void work_shared(int thread, uint64_t tag, int64_t* done) {
    for (uint64_t v = next_.load(std::memory_order_acquire);;) {
      if (tag_of(v) != tag) return;
      const int64_t c = word_begin(v), count = word_end(v);
      if (c >= count) return;
      if (!next_.compare_exchange_weak(v, pack_word(tag, c + 1, count), std::memory_order_acq_rel)) continue;
      // The claim synchronizes with the task's fields (see pack_word).
      const int64_t chunk = chunk_.load(std::memory_order_relaxed);
      run_items(thread, c * chunk, std::min(n_items_.load(std::memory_order_relaxed), (c + 1) * chunk), done);
      v = next_.load(std::memory_order_acquire);
    }
  }

  void work(int thread, uint64_t tag, int64_t* done) {
    if (stream_.load(std::memory_order_relaxed)) {
      work_stream(thread, tag, done);
    } else {
      work_shared(thread, tag, done);
    }
  }

  void worker_loop(int index) {
    t_in_pool = true;
    // Generation 0 is the pool's birth: a task submitted before this thread
    // got here must still be seen as new.
    uint64_t seen = 0;
    int64_t done = 0;  // items this worker has completed, all tasks
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
      // A task the caller has already finished leaves nothing to claim.
      work(index, g & kTagMask, &done);
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
  std::unique_ptr<Slot[]> slots_;    // one per thread index
  std::vector<int64_t> seen_done_;   // each worker's count when the last task ended (caller only)
  std::vector<int64_t> read_done_;   // the counts read by the current wait (caller only)
  // The task line, written by the caller only, read by workers: the
  // workers spin on generation_ and get the task with it. (With the task's
  // fields and the hand-off's counters sharing two lines, a worker spinning
  // on generation_ pulled the line back between the caller's stores; decode
  // measured +5-7% (Q8_0) and +0-2% (f16) at batch 1 with one line per
  // writer, ABBA process pairs.) A worker that reads the fields while the
  // caller writes the next task's gets claim words with another tag.
  alignas(64) std::atomic<uint64_t> generation_{0};
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int64_t> n_items_{0};
  std::atomic<int64_t> chunk_{1};
  std::atomic<bool> stream_{false};
  alignas(64) std::atomic<uint64_t> next_{0};  // balanced tasks: every thread's claims
  char pad_[64 - sizeof(std::atomic<uint64_t>)] = {};  // nothing after the pool shares next_'s line
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
