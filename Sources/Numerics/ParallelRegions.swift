import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPrefetch

// MARK: - Parallel regions

/// Runs many short parallel regions (one per matrix product of a decoding
/// step: ~150 per token, each tens of microseconds) on persistent worker
/// threads that spin briefly between regions instead of sleeping.
///
/// Waking GCD workers for every region cost ~40 µs each, more than the
/// second thread saved at single-stream decoding. Here the caller runs part
/// 0 itself, workers run parts 1…, and a worker that finds no new region
/// within ~`spinLimit` checks sleeps on a condition variable, so an idle
/// pool costs nothing. One caller at a time: a caller that finds the pool
/// busy (another model running concurrently), or asks for more parts than
/// there are cores, falls back to GCD.
public final class ParallelRegions: @unchecked Sendable {
    /// The process-wide pool used by the quantised products and attention.
    public static let shared = ParallelRegions()

    /// Spin checks before a waiting worker sleeps (well under a millisecond;
    /// the length of one PAUSE differs between CPU generations).
    static let spinLimit = 20_000

    /// At most one worker per other online core: a spinning worker without
    /// a core of its own would hold every region up by a time slice.
    static let maxWorkers = max(0, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1)

    private let busy = Mutex(false)
    private let epoch = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    // The sleep/wake pair for idle workers. `Mutex` has no condition
    // variable, so these stay pthread objects — on the heap, because they
    // must not move while in use and a stored property passed with `&` has
    // no stable address. Never freed: `shared` lives as long as the process.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    private var workers = 0
    // The current region; written by the caller before `epoch` moves on,
    // read by workers after they see it move.
    nonisolated(unsafe) private var body: ((Int) -> Void)?
    nonisolated(unsafe) private var parts = 0

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        wake = .allocate(capacity: 1)
        wake.initialize(to: pthread_cond_t())
        pthread_cond_init(wake, nil)
    }

    /// Calls `body(p)` for `p` in `0..<parts`, in parallel, and returns when
    /// all have finished.
    public func run(parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 { if parts == 1 { body(0) }; return }
        let mine = busy.withLock { taken -> Bool in
            if taken { return false }
            taken = true
            return true
        }
        guard mine && parts - 1 <= Self.maxWorkers else {
            if mine { busy.withLock { $0 = false } }
            parallelFor(iterations: parts, body)
            return
        }
        defer { busy.withLock { $0 = false } }
        while workers < parts - 1 { spawnWorker(index: workers + 1) }
        withoutActuallyEscaping(body) { escaping in
            self.body = escaping
            self.parts = parts
            // Every worker reports back each region, even one without a part,
            // so none can still be reading `body`/`parts` of the last region
            // when the next is set up.
            pending.store(workers, ordering: .sequentiallyConsistent)
            epoch.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(mutex)
            }
            escaping(0)
            while pending.load(ordering: .acquiring) > 0 { Self.pause() }
            self.body = nil
        }
    }

    private func spawnWorker(index: Int) {
        workers += 1
        let seen = epoch.load(ordering: .sequentiallyConsistent)
        let start = Unmanaged.passRetained(WorkerStart { self.workerLoop(index: index, seen: seen) }).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let start = Unmanaged<WorkerStart>.fromOpaque(arg!).takeRetainedValue()
            start.run()
            return nil
        }, start)
        precondition(rc == 0, "ParallelRegions: pthread_create failed (\(rc))")
        pthread_detach(thread)
    }

    private func workerLoop(index: Int, seen start: Int) {
        var seen = start
        while true {
            var spins = 0
            while epoch.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < Self.spinLimit { Self.pause(); continue }
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while epoch.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(wake, mutex) }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
            }
            seen = epoch.load(ordering: .acquiring)
            if index < parts, let body { body(index) }
            pending.subtract(1, ordering: .releasing)
        }
    }

    @inline(__always)
    static func pause() {
        ranksmith_cpu_relax()
    }
}

// MARK: - Parallel loops

/// Runs `body(i)` for every `i` in `0..<iterations` on GCD's worker threads
/// and returns when all have finished.
///
/// The body may capture raw pointers and non-Sendable state, which the
/// compiler cannot prove safe to share: the callers (the batched search, the
/// flat scan and the parallel HNSW build of the Index, and `ParallelRegions`
/// when its own workers are taken) give each iteration its own output slot
/// and synchronise anything shared themselves. The closure never outlives
/// the call.
public func parallelFor(iterations: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { escaping in
        let shared = SharedBody(call: escaping)
        DispatchQueue.concurrentPerform(iterations: iterations) { shared.call($0) }
    }
}

/// A loop body handed to several threads without compiler checks (see
/// `parallelFor`): its iterations touch disjoint data, and it never
/// outlives the call (`withoutActuallyEscaping`).
private struct SharedBody: @unchecked Sendable {
    let call: (Int) -> Void
}

/// A worker thread's entry point, handed through `pthread_create`.
private final class WorkerStart {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
