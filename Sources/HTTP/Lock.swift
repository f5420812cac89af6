import Synchronization

// MARK: - Lock

/// A mutex for the few pieces of state shared across queues (the
/// connection table, shutdown flags) that live as several fields of one
/// class rather than one value: `Synchronization.Mutex` without a value of
/// its own, so the whole project has one lock primitive (see
/// docs/architecture.md, "Locks"). Where the guarded state is one value,
/// hold it in a `Mutex` directly.
final class Lock: Sendable {
    private let mutex = Mutex(())

    /// Runs `body` holding the lock.
    @inline(__always)
    func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        try mutex.withLock { (_: inout sending ()) throws(E) -> sending T in try body() }
    }
}
