import Dispatch
import Numerics
import Synchronization
import XCTest

final class ParallelRegionsTests: XCTestCase {
    /// Every part runs exactly once per region, over many short regions in
    /// a row (the decoding pattern) and with the part count changing.
    func testEveryPartRunsOncePerRegion() {
        let pool = ParallelRegions.shared
        for round in 0..<2_000 {
            let parts = 1 + round % 4
            let counts = Mutex([Int](repeating: 0, count: parts))
            pool.run(parts: parts) { p in counts.withLock { $0[p] += 1 } }
            XCTAssertEqual(counts.withLock { $0 }, [Int](repeating: 1, count: parts), "round \(round)")
        }
    }

    /// Two callers at once: the second falls back to GCD, both finish with
    /// every part run once.
    func testConcurrentCallersBothComplete() {
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<500 {
                ParallelRegions.shared.run(parts: 2) { _ in total.add(1, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 4 * 500 * 2)
    }

    /// Regions after the workers went to sleep still run (the wake-up path).
    func testRegionAfterIdleRuns() {
        let hits = Atomic<Int>(0)
        ParallelRegions.shared.run(parts: 2) { _ in hits.add(1, ordering: .relaxed) }
        usleep(50_000)  // longer than the spin phase
        ParallelRegions.shared.run(parts: 2) { _ in hits.add(1, ordering: .relaxed) }
        XCTAssertEqual(hits.load(ordering: .relaxed), 4)
    }
}
