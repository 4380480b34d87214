// Runs a grid: each block's threads as fibers (context.h) on the calling OS
// thread, switching only at barriers.
//
// One round = every runnable fiber runs until it finishes or blocks:
//
//   fiber:  run ... __syncthreads() -> AtBlock   (yield to scheduler)
//           run ... __shfl_xor()    -> AtWave    (yield to scheduler)
//   after the round:  a wave whose live lanes are all AtWave  -> runnable
//                     a block whose live threads are all AtBlock -> runnable
//                     nothing released and someone waiting      -> deadlock
//
// A deadlock (threads of one block waiting at different barriers, e.g. a
// __syncthreads inside divergent code) is reported as a fault of the launch;
// the stuck fibers are abandoned. Kernels keep only trivially destructible
// locals, so abandoning a stack frees nothing that needs freeing.
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "hip_emu/context.h"
#include "hip_emu/device.h"
#include "hip_emu/launch_internal.h"

namespace hs_emu {
namespace detail {
namespace {

constexpr size_t kStackBytes = 128 * 1024;
constexpr int kMaxThreads = 1024;

enum class FState { Runnable, AtBlock, AtWave, Done };

struct Fiber {
  FiberContext ctx;
  ThreadState st;
  FState state = FState::Runnable;
  bool started = false;
  uint32_t exchanges = 0;  // selects the parity of the exchange buffer
  char* stack = nullptr;
};

// Stacks are mmap'ed once per OS thread and reused by every later launch.
struct StackPool {
  std::vector<char*> stacks;
  ~StackPool() {
    for (char* s : stacks) munmap(s, kStackBytes);
  }
  bool ensure(size_t n) {
    while (stacks.size() < n) {
      void* m = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) return false;
      stacks.push_back(static_cast<char*>(m));
    }
    return true;
  }
};

struct Block {
  FiberContext scheduler;
  std::vector<Fiber> fibers;
  int waves = 0;
  int wave_size = 64;
  // Exchange slots: [parity 2][wave][lane]; see wave_exchange().
  std::vector<uint64_t> slots;
  std::vector<char> shared;  // dynamic shared memory
  void (*body)(void*) = nullptr;
  void* ctx = nullptr;
  Fiber* current = nullptr;
  const LaunchConfig* cfg = nullptr;
};

thread_local Block* t_block = nullptr;
thread_local ThreadState t_host_state;  // what self() returns outside a kernel
thread_local StackPool t_stacks;

void fiber_main() {
  Block* b = t_block;
  b->body(b->ctx);
  b->current->state = FState::Done;
  context_switch(&b->current->ctx, &b->scheduler);  // never resumed
}

void yield(FState why) {
  Block* b = t_block;
  Fiber* f = b->current;
  f->state = why;
  context_switch(&f->ctx, &b->scheduler);
}

std::string where_now(const Block* b) {
  char buf[160];
  const ThreadState& s = b->current->st;
  std::snprintf(buf, sizeof buf, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u)", b->cfg->kernel,
                s.block_idx.x, s.block_idx.y, s.block_idx.z, s.thread_idx.x, s.thread_idx.y,
                s.thread_idx.z);
  return buf;
}

// Kept out of run_block: with ucontext, a switch returns twice, which would
// make every local of the scheduling loop suspect (-Wclobbered).
__attribute__((noinline)) void resume(Block* b, Fiber* f) {
  if (!f->started) {
    f->started = true;
    // Invariant: f->stack is kStackBytes of this thread's pool, used by no
    // other live fiber of this block.
    context_init(&f->ctx, f->stack, kStackBytes, fiber_main);
  }
  b->current = f;
  context_switch(&b->scheduler, &f->ctx);
}

// Runs one block to completion; false if it deadlocked.
bool run_block(Block& b) {
  for (;;) {
    for (Fiber& f : b.fibers) {
      if (f.state != FState::Runnable) continue;
      resume(&b, &f);
    }
    bool all_done = true, released = false;
    for (int w = 0; w < b.waves; ++w) {
      bool any_live = false, all_wave = true;
      const size_t lo = static_cast<size_t>(w) * b.wave_size;
      const size_t hi = std::min(b.fibers.size(), lo + b.wave_size);
      for (size_t i = lo; i < hi; ++i) {
        if (b.fibers[i].state == FState::Done) continue;
        any_live = true;
        if (b.fibers[i].state != FState::AtWave) all_wave = false;
      }
      if (any_live && all_wave) {
        for (size_t i = lo; i < hi; ++i)
          if (b.fibers[i].state == FState::AtWave) b.fibers[i].state = FState::Runnable;
        released = true;
      }
    }
    bool all_block = true;
    for (const Fiber& f : b.fibers) {
      if (f.state != FState::Done) all_done = false;
      if (f.state != FState::Done && f.state != FState::AtBlock) all_block = false;
    }
    if (all_done) return true;
    if (all_block && !released) {
      for (Fiber& f : b.fibers)
        if (f.state == FState::AtBlock) f.state = FState::Runnable;
      released = true;
    }
    if (!released) return false;
  }
}

}  // namespace

ThreadState& self() { return t_block ? t_block->current->st : t_host_state; }

uint64_t wave_exchange(uint64_t mine, int src) {
  Block* b = t_block;
  Fiber* f = b->current;
  const int lane = f->st.lane;
  const size_t linear = static_cast<size_t>(f - b->fibers.data());
  const size_t wave = linear / b->wave_size;
  // Two buffers used alternately: a lane can only write buffer p again after
  // every lane of its wave passed the barrier of the exchange in between,
  // i.e. after all of them have read buffer p.
  const size_t parity = f->exchanges++ & 1;
  const size_t base = (parity * b->waves + wave) * b->wave_size;
  b->slots[base + lane] = mine;
  yield(FState::AtWave);
  const size_t src_linear = wave * b->wave_size + static_cast<size_t>(src);
  if (src < 0 || src >= b->wave_size || src_linear >= b->fibers.size()) return mine;
  return b->slots[base + src];
}

uint64_t wave_ballot(bool pred) {
  Block* b = t_block;
  Fiber* f = b->current;
  const size_t linear = static_cast<size_t>(f - b->fibers.data());
  const size_t wave = linear / b->wave_size;
  const size_t parity = f->exchanges++ & 1;
  const size_t base = (parity * b->waves + wave) * b->wave_size;
  b->slots[base + f->st.lane] = pred ? 1 : 0;
  yield(FState::AtWave);
  uint64_t mask = 0;
  const size_t lo = wave * b->wave_size;
  for (size_t i = lo; i < std::min(b->fibers.size(), lo + b->wave_size); ++i) {
    // Lanes that already returned take no part, like inactive lanes on a GPU.
    if (b->fibers[i].state != FState::Done && b->slots[base + (i - lo)])
      mask |= uint64_t{1} << (i - lo);
  }
  return mask;
}

void block_barrier() { yield(FState::AtBlock); }

char* dynamic_shared(size_t* bytes) {
  Block* b = t_block;
  *bytes = b->shared.size();
  return b->shared.data();
}

void* oob(const void* addr, size_t bytes, const char* lo, const char* hi) {
  alignas(64) static thread_local char sink[256];
  char buf[320];
  if (lo == nullptr) {
    std::snprintf(buf, sizeof buf, "%zu-byte access at %p, which is not device memory", bytes, addr);
  } else {
    const long long off = static_cast<long long>(static_cast<const char*>(addr) - lo);
    std::snprintf(buf, sizeof buf,
                  "%zu-byte access at byte offset %lld of a %zu-byte allocation (out of bounds)",
                  bytes, off, static_cast<size_t>(hi - lo));
  }
  record_fault(t_block ? where_now(t_block) + ": " + buf : std::string("host: ") + buf);
  std::memset(sink, 0, sizeof sink);
  return sink;
}

void launch(const LaunchConfig& cfg, void (*body)(void*), void* ctx) {
  const uint64_t threads = uint64_t{cfg.block.x} * cfg.block.y * cfg.block.z;
  const uint64_t blocks = uint64_t{cfg.grid.x} * cfg.grid.y * cfg.grid.z;
  if (threads == 0 || threads > kMaxThreads || blocks == 0 || cfg.shared_bytes > kMaxSharedBytes) {
    set_last(hipErrorInvalidConfiguration);
    return;
  }
  if (t_block != nullptr || !t_stacks.ensure(threads)) {  // no launches from inside a kernel
    set_last(hipErrorLaunchFailure);
    return;
  }
  if (!stream_is_valid(cfg.stream)) {
    set_last(hipErrorInvalidHandle);
    return;
  }
  Block b;
  b.wave_size = wave_size_setting();
  b.waves = static_cast<int>((threads + b.wave_size - 1) / b.wave_size);
  b.slots.assign(static_cast<size_t>(2 * b.waves * b.wave_size), 0);
  b.shared.assign(cfg.shared_bytes, 0);
  b.fibers.resize(threads);
  b.body = body;
  b.ctx = ctx;
  b.cfg = &cfg;
  for (size_t i = 0; i < threads; ++i) b.fibers[i].stack = t_stacks.stacks[i];
  const uint64_t faults_before = fault_count();
  t_block = &b;
  for (uint32_t bz = 0; bz < cfg.grid.z; ++bz)
    for (uint32_t by = 0; by < cfg.grid.y; ++by)
      for (uint32_t bx = 0; bx < cfg.grid.x; ++bx) {
        size_t i = 0;
        for (uint32_t tz = 0; tz < cfg.block.z; ++tz)
          for (uint32_t ty = 0; ty < cfg.block.y; ++ty)
            for (uint32_t tx = 0; tx < cfg.block.x; ++tx, ++i) {
              Fiber& f = b.fibers[i];
              f.state = FState::Runnable;
              f.started = false;
              f.exchanges = 0;
              f.st.thread_idx = dim3(tx, ty, tz);
              f.st.block_idx = dim3(bx, by, bz);
              f.st.block_dim = cfg.block;
              f.st.grid_dim = cfg.grid;
              f.st.lane = static_cast<int>(i % b.wave_size);
              f.st.wave_size = b.wave_size;
            }
        if (!run_block(b)) {
          char buf[200];
          std::snprintf(buf, sizeof buf,
                        "kernel %s, block (%u,%u,%u): threads wait at different barriers "
                        "(__syncthreads or a warp op in divergent code)",
                        cfg.kernel, bx, by, bz);
          record_fault(buf);
        }
        // A GPU stops a faulting grid; so do we, after the block that faulted.
        if (fault_count() != faults_before) {
          t_block = nullptr;
          return;
        }
      }
  t_block = nullptr;
}

}  // namespace detail
}  // namespace hs_emu
