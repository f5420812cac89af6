import Foundation
import Synchronization

// MARK: - Locks and small concurrency helpers

/// A readers-writer lock: many searches at once, or one writer. Writers
/// are preferred (glibc's default lets a stream of readers starve them);
/// so a thread must never take the read side twice.
///
/// It stays a pthread rwlock because `Synchronization.Mutex` cannot let
/// searches run side by side. The lock lives on the heap: a pthread object
/// must not move while in use, and a Swift stored property passed with `&`
/// has no stable address.
final class ReadWriteLock: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        var attr = pthread_rwlockattr_t()  // a local, used only during init
        pthread_rwlockattr_init(&attr)
        #if os(Linux)
        pthread_rwlockattr_setkind_np(&attr, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        #endif
        pthread_rwlock_init(lock, &attr)
        pthread_rwlockattr_destroy(&attr)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` holding the lock shared.
    @inline(__always) func read<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body` holding the lock exclusively.
    @inline(__always) func write<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}

/// Locks striped over node ids (node & (count-1)), plus one global lock,
/// for the parallel HNSW build. Never held two at a time by one thread.
final class StripedLocks: @unchecked Sendable {
    private let mutexes: UnsafeMutablePointer<pthread_mutex_t>
    private let mask: Int
    private let global: UnsafeMutablePointer<pthread_mutex_t>

    init(count: Int) {
        precondition(count > 0 && count & (count - 1) == 0, "stripe count must be a power of two")
        mutexes = .allocate(capacity: count)
        for i in 0..<count { pthread_mutex_init(mutexes + i, nil) }
        mask = count - 1
        global = .allocate(capacity: 1)
        pthread_mutex_init(global, nil)
    }

    deinit {
        for i in 0...mask { pthread_mutex_destroy(mutexes + i) }
        mutexes.deallocate()
        pthread_mutex_destroy(global)
        global.deallocate()
    }

    @inline(__always) func lock(_ node: Int32) { pthread_mutex_lock(mutexes + (Int(node) & mask)) }
    @inline(__always) func unlock(_ node: Int32) { pthread_mutex_unlock(mutexes + (Int(node) & mask)) }
    func lockGlobal() { pthread_mutex_lock(global) }
    func unlockGlobal() { pthread_mutex_unlock(global) }
}

/// A counter threads take work items from.
final class AtomicCounter: Sendable {
    private let value: Mutex<Int>

    init(_ start: Int) { value = Mutex(start) }

    /// Returns the current value and adds `n`.
    func fetchAdd(_ n: Int) -> Int {
        value.withLock {
            let v = $0
            $0 += n
            return v
        }
    }
}
