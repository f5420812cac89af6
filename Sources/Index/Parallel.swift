import Foundation

// MARK: - Parallel loops

/// Runs `body(i)` for every `i` in `0..<iterations` on GCD's worker threads
/// and returns when all have finished.
///
/// The body may capture raw pointers and non-Sendable state, which the
/// compiler cannot prove safe to share: the callers (batched search, the
/// flat scan, the parallel HNSW build) give each iteration its own output
/// slot and synchronise anything shared themselves (`AtomicCounter`,
/// `StripedLocks`). The closure never outlives the call.
func parallelFor(iterations: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { escaping in
        let shared = SharedBody(call: escaping)
        DispatchQueue.concurrentPerform(iterations: iterations) { shared.call($0) }
    }
}

/// A loop body handed to several threads without compiler checks (see `parallelFor`).
private struct SharedBody: @unchecked Sendable {
    let call: (Int) -> Void
}
