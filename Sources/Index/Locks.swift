import Foundation

// MARK: - Locks and small concurrency helpers

/// A readers-writer lock: many searches at once, or one writer. Writers
/// are preferred (glibc's default lets a stream of readers starve them);
/// so a thread must never take the read side twice.
final class ReadWriteLock: @unchecked Sendable {
    private var lock = pthread_rwlock_t()

    init() {
        var attr = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attr)
        #if os(Linux)
        pthread_rwlockattr_setkind_np(&attr, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        #endif
        pthread_rwlock_init(&lock, &attr)
        pthread_rwlockattr_destroy(&attr)
    }
    deinit { pthread_rwlock_destroy(&lock) }

    /// Runs `body` holding the lock shared.
    @inline(__always) func read<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }

    /// Runs `body` holding the lock exclusively.
    @inline(__always) func write<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }
}

/// A mutex with a condition variable, for the write-ahead log's group commit.
final class Monitor: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body` holding the mutex.
    @inline(__always) func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    /// Waits for a broadcast; call only inside `locked`.
    func wait() { pthread_cond_wait(&cond, &mutex) }

    /// Wakes every waiter; call inside `locked`.
    func broadcast() { pthread_cond_broadcast(&cond) }
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
final class AtomicCounter: @unchecked Sendable {
    private let monitor = Monitor()
    private var value: Int

    init(_ start: Int) { value = start }

    /// Returns the current value and adds `n`.
    func fetchAdd(_ n: Int) -> Int {
        monitor.locked {
            let v = value
            value += n
            return v
        }
    }
}
