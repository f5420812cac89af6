import Foundation
import Storage
import XCTest

/// The mutex-and-condition primitive: waiters wake on a broadcast and see
/// every change made under the lock.
final class MonitorTests: XCTestCase {
    final class Gate: @unchecked Sendable {
        let monitor = Monitor()
        var open = false
        var passed = 0
    }

    func testWaitersWakeOnBroadcastAndSeeTheChange() throws {
        let gate = Gate()
        let done = DispatchGroup()
        for _ in 0..<4 {
            done.enter()
            Thread {
                gate.monitor.locked {
                    while !gate.open { gate.monitor.wait() }
                    gate.passed += 1
                }
                done.leave()
            }.start()
        }
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(gate.monitor.locked { gate.passed }, 0, "nobody passes a closed gate")
        gate.monitor.locked {
            gate.open = true
            gate.monitor.broadcast()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(gate.monitor.locked { gate.passed }, 4)
    }
}
