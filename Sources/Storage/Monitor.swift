import Foundation

// MARK: - A mutex with a condition variable

/// A mutex with a condition variable, for the few places that must wait
/// for a state change under a lock: the write-ahead log's group commit,
/// in-order apply of log records, and the batcher's work queue.
///
/// Plain mutual exclusion uses `Synchronization.Mutex` instead (see
/// docs/architecture.md, "Locks"). `Mutex` has no condition variable, so
/// this type keeps a pthread mutex and condition — allocated on the heap,
/// because pthread objects must not move while in use and a Swift stored
/// property has no stable address (passing `&property` to C yields a
/// temporary that may differ on every call).
public final class Monitor: @unchecked Sendable {
    // Both live at fixed heap addresses from init to deinit; every access
    // goes through these pointers.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// An unlocked monitor with no waiters.
    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` holding the mutex.
    @inline(__always)
    public func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Releases the mutex, waits for a `broadcast` or `signal`, and takes
    /// it again; call only inside `locked`, in a loop that re-checks the
    /// condition (wake-ups may be spurious).
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// Wakes one waiter; call inside `locked`.
    public func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiter; call inside `locked`.
    public func broadcast() { pthread_cond_broadcast(condition) }
}
