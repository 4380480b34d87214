// The memory read behind the roofline's bandwidth (ops.readBandwidth over a
// buffer of its own, readWeights over a model's matrices): plain 8-byte
// loads with four independent sums, work items of 256 KiB of the spans laid
// end to end, split over the pool like the decode GEMVs (one range per
// thread) or in shared-counter chunks, with or without a software prefetch
// 2 KiB ahead.
#include <cstring>

#include "cpu/kernels.h"

namespace hs {
namespace cpu {

uint64_t stream_read(ThreadPool* pool, const ReadSpan* spans, int n_spans, int64_t passes, bool prefetch,
                     int chunks_per_thread) {
  constexpr int64_t kItem = int64_t{1} << 18;  // bytes per work item
  int64_t total = 0;
  for (int i = 0; i < n_spans; ++i) total += spans[i].bytes;
  const int64_t items = (total + kItem - 1) / kItem;
  uint64_t sums[256 * 8] = {};  // one line per thread index
  for (int64_t pass = 0; pass < passes; ++pass) {
    parallel_for(pool, items, [&](int64_t b, int64_t e, int t) {
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      const int64_t lo = b * kItem, hi = e * kItem;
      int64_t base = 0;
      for (int i = 0; i < n_spans && base < hi; base += spans[i++].bytes) {
        const int64_t from = lo > base ? lo - base : 0;
        const int64_t to = hi - base < spans[i].bytes ? hi - base : spans[i].bytes;
        const uint8_t* p = spans[i].p;
        int64_t o = from;
        for (; o + 32 <= to; o += 32) {
          // Invariant: [o, o + 32) lies inside span i; a prefetch never
          // faults, and it too stays inside the span.
          if (prefetch && (o & 63) == 0 && o + 2048 < spans[i].bytes) __builtin_prefetch(p + o + 2048, 0, 3);
          // Four 8-byte loads (memcpy: a span need not be 8-byte aligned).
          uint64_t w0, w1, w2, w3;
          std::memcpy(&w0, p + o, 8);
          std::memcpy(&w1, p + o + 8, 8);
          std::memcpy(&w2, p + o + 16, 8);
          std::memcpy(&w3, p + o + 24, 8);
          s0 += w0;
          s1 += w1;
          s2 += w2;
          s3 += w3;
        }
        for (; o < to; ++o) s0 += p[o];
      }
      sums[(t & 255) * 8] += s0 + s1 + s2 + s3;
    }, chunks_per_thread);
  }
  uint64_t all = 0;
  for (const uint64_t v : sums) all += v;
  return all;
}

}  // namespace cpu
}  // namespace hs
