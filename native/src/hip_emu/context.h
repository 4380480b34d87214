// Fiber context switching for the emulator: a few instructions on x86-64
// (save the callee-saved registers and the FP control words, swap stack
// pointers), ucontext everywhere else. glibc's swapcontext also saves the
// signal mask with a system call per switch, which made warp shuffles
// (a switch per lane per shuffle) the emulator's main cost.
#pragma once

#include <cstddef>

#if defined(__x86_64__) && !defined(HS_EMU_UCONTEXT)
#define HS_EMU_ASM_SWITCH 1
#else
#define HS_EMU_ASM_SWITCH 0
#include <ucontext.h>
#endif

namespace hs_emu {
namespace detail {

struct FiberContext {
  void* sp = nullptr;  // saved stack pointer (asm switch)
#if !HS_EMU_ASM_SWITCH
  ucontext_t uc;
#endif
};

// Prepares `c` so that the first switch to it runs entry() on
// [stack, stack + bytes). entry must never return: it switches away for good.
void context_init(FiberContext* c, char* stack, size_t bytes, void (*entry)());
// Saves the running context into `from` and resumes `to`.
void context_switch(FiberContext* from, FiberContext* to);

}  // namespace detail
}  // namespace hs_emu
