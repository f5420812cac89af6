// Software prefetch for the HNSW search in Index.
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

#endif
