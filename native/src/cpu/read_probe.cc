// The memory read behind the roofline's bandwidth (ops.readBandwidth over a
// buffer of its own, readWeights over a model's matrices): plain 8-byte
// loads with four independent sums, split over the pool like the decode
// GEMVs (one range per thread) or in shared-counter chunks, with or without
// a software prefetch 2 KiB ahead; either all spans laid end to end in one
// task of 256 KiB items, or in consecutive tasks of a few spans each in
// 16 KiB items (a decode step's GEMV tasks, each waiting for the one before).
#include <cstring>

#include "cpu/kernels.h"

namespace hs {
namespace cpu {

namespace {

struct Sums {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  uint64_t total() const { return s0 + s1 + s2 + s3; }
};

// Reads bytes [from, to) of a span of `bytes` bytes at p.
void read_range(const uint8_t* p, int64_t bytes, int64_t from, int64_t to, bool prefetch, Sums& s) {
  int64_t o = from;
  for (; o + 32 <= to; o += 32) {
    // Invariant: [o, o + 32) lies inside the span; a prefetch never
    // faults, and it too stays inside the span.
    if (prefetch && (o & 63) == 0 && o + 2048 < bytes) __builtin_prefetch(p + o + 2048, 0, 3);
    // Four 8-byte loads (memcpy: a span need not be 8-byte aligned).
    uint64_t w0, w1, w2, w3;
    std::memcpy(&w0, p + o, 8);
    std::memcpy(&w1, p + o + 8, 8);
    std::memcpy(&w2, p + o + 16, 8);
    std::memcpy(&w3, p + o + 24, 8);
    s.s0 += w0;
    s.s1 += w1;
    s.s2 += w2;
    s.s3 += w3;
  }
  for (; o < to; ++o) s.s0 += p[o];
}

// One pool task reading spans [0, n) laid end to end in items of `item` bytes.
void read_task(ThreadPool* pool, const ReadSpan* spans, int n, int64_t item, bool prefetch, int chunks_per_thread,
               uint64_t* sums) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += spans[i].bytes;
  parallel_for(pool, (total + item - 1) / item, [&](int64_t b, int64_t e, int t) {
    Sums s;
    const int64_t lo = b * item, hi = e * item;
    int64_t base = 0;
    for (int i = 0; i < n && base < hi; base += spans[i++].bytes) {
      const int64_t from = lo > base ? lo - base : 0;
      const int64_t to = hi - base < spans[i].bytes ? hi - base : spans[i].bytes;
      if (from < to) read_range(spans[i].p, spans[i].bytes, from, to, prefetch, s);
    }
    sums[(t & 255) * 8] += s.total();
  }, chunks_per_thread);
}

}  // namespace

uint64_t stream_read(ThreadPool* pool, const ReadSpan* spans, int n_spans, int64_t passes, bool prefetch,
                     int chunks_per_thread, const int32_t* task_spans, int n_tasks) {
  uint64_t sums[256 * 8] = {};  // one line per thread index
  for (int64_t pass = 0; pass < passes; ++pass) {
    if (task_spans == nullptr) {
      read_task(pool, spans, n_spans, int64_t{1} << 18, prefetch, chunks_per_thread, sums);
      continue;
    }
    // Invariant: the caller's task_spans add up to at most n_spans.
    for (int i = 0, first = 0; i < n_tasks; first += task_spans[i++]) {
      read_task(pool, spans + first, task_spans[i], int64_t{1} << 14, prefetch, chunks_per_thread, sums);
    }
  }
  uint64_t all = 0;
  for (const uint64_t v : sums) all += v;
  return all;
}

}  // namespace cpu
}  // namespace hs
