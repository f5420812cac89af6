// CPU hints Swift has no intrinsics for: software prefetch for the HNSW
// search in Index, and a spin-wait hint for Numerics' worker threads.
//
// Prefetch:
//
// Searching the graph is bound by memory latency: every node it expands
// sends it to a few dozen vectors at random addresses. Asking the CPU to
// start loading the next vectors while the current one is scored hides
// most of that latency. Swift has no prefetch intrinsic, and a plain load
// would stall instead of hinting, so this one function comes from C. It is
// `static inline`: the Swift compiler imports the body and inlines it, so
// each call is a single prefetch instruction (PREFETCHT0 on x86-64, PRFM on
// arm64). A prefetch never faults and does not change what a program does.
#ifndef RANKSMITH_CPREFETCH_H
#define RANKSMITH_CPREFETCH_H

/// Hints that the cache line holding `p` will be read soon; keep it in every cache level.
static inline void ranksmith_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

/// Tells the CPU this thread is in a spin-wait loop (PAUSE on x86-64,
/// YIELD on arm64): the sibling hyper-thread gets the core's resources and
/// leaving the loop costs no memory-order mis-speculation. Used by the
/// worker threads of Numerics' parallel regions, which spin briefly between
/// the many short matrix products of a decoding step.
static inline void ranksmith_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
