// See context.h.
//
// x86-64 switch frame, as hs_emu_switch leaves it on the saved stack:
//
//   sp ->  | mxcsr (4) | x87 cw (4) |   <- lowest address
//          | r15 | r14 | r13 | r12 | rbx | rbp |
//          | return address          |   (a new fiber: its entry function)
//          | 0 (entry never returns) |   <- top of a new fiber's stack
#include "hip_emu/context.h"

#include <cstdint>
#include <cstring>

#if HS_EMU_ASM_SWITCH
extern "C" void hs_emu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .p2align 4
  .globl hs_emu_switch
  .hidden hs_emu_switch
  .type hs_emu_switch, @function
hs_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size hs_emu_switch, .-hs_emu_switch
)");
#endif

namespace hs_emu {
namespace detail {

#if HS_EMU_ASM_SWITCH

void context_init(FiberContext* c, char* stack, size_t bytes, void (*entry)()) {
  // Invariant: [stack, stack + bytes) is owned by this fiber alone and is at
  // least a few KiB, so the 80-byte frame below fits.
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15};
  auto* slot = reinterpret_cast<uint64_t*>(top);
  slot[-1] = 0;                                     // fake return address of entry
  slot[-2] = reinterpret_cast<uint64_t>(entry);     // where `ret` lands
  for (int i = 3; i <= 8; ++i) slot[-i] = 0;        // rbp rbx r12 r13 r14 r15
  uint32_t mxcsr = 0;
  uint16_t fpcw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpcw));
  uint64_t ctl = mxcsr | (static_cast<uint64_t>(fpcw) << 32);
  slot[-9] = ctl;
  // After `ret`, rsp = top - 8: 8 mod 16, as the ABI expects at a call entry.
  c->sp = &slot[-9];
}

void context_switch(FiberContext* from, FiberContext* to) { hs_emu_switch(&from->sp, to->sp); }

#else

void context_init(FiberContext* c, char* stack, size_t bytes, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = bytes;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}

void context_switch(FiberContext* from, FiberContext* to) { swapcontext(&from->uc, &to->uc); }

#endif

}  // namespace detail
}  // namespace hs_emu
