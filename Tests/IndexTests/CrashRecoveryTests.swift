import Foundation
import Index
import XCTest

/// kill -9 at random moments: a child process (`index-crash-harness`)
/// streams upserts and deletes, printing each one only after it was
/// acknowledged; the test kills it with SIGKILL, reopens the data directory,
/// and checks that every acknowledged upsert is there and no acknowledged
/// delete came back. Repeated on the same directory.
final class CrashRecoveryTests: XCTestCase {
    func testEveryAcknowledgedWriteSurvivesSIGKILL() throws {
        let harness = try harnessURL()
        let dir = temporaryDirectory(self)
        var present = Set<String>(), deleted = Set<String>()
        var rng = SystemRandomNumberGenerator()
        let iterations = 30
        var totalAcks = 0
        for round in 0..<iterations {
            let p = Process()
            p.executableURL = harness
            p.arguments = [dir.path, String(round * 1_000_000)]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Let it run 20–250 ms after it is ready, then kill it mid-write.
            let reader = LineCollector(out.fileHandleForReading)
            let ready = reader.waitForLine(prefix: "ready", timeout: 30)
            XCTAssertTrue(ready, "harness did not start")
            usleep(UInt32.random(in: 20_000...250_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let lines = reader.finish()
            for line in lines {
                if line.hasPrefix("ack ") {
                    present.insert(String(line.dropFirst(4)))
                    totalAcks += 1
                } else if line.hasPrefix("deleting ") {
                    present.remove(String(line.dropFirst(9)))  // in flight: either outcome is right
                } else if line.hasPrefix("del ") {
                    let id = String(line.dropFirst(4))
                    present.remove(id)
                    deleted.insert(id)
                }
            }
            let c = try CollectionStore(directory: dir).collection("crash")
            let ids = Set(c.allDocuments().map(\.document.id))
            let missing = present.subtracting(ids)
            XCTAssertTrue(missing.isEmpty, "round \(round): acknowledged but lost: \(missing.sorted().prefix(5))")
            let back = deleted.intersection(ids)
            XCTAssertTrue(back.isEmpty, "round \(round): deleted but back: \(back.sorted().prefix(5))")
            // Unacknowledged writes may or may not be there; the next round
            // treats whatever is there as the state it builds on.
            for id in ids where !present.contains(id) && !deleted.contains(id) { present.insert(id) }
            if !missing.isEmpty || !back.isEmpty { break }
        }
        XCTAssertGreaterThan(totalAcks, iterations, "harness acknowledged too few writes to mean anything")
    }

    private func harnessURL() throws -> URL {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["RANKSMITH_INDEX_CRASH_HARNESS"] { return URL(fileURLWithPath: env) }
        var candidates = [Bundle.main.bundleURL.deletingLastPathComponent()]
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for b in Bundle.allBundles { candidates.append(b.bundleURL.deletingLastPathComponent()) }
        for dir in candidates {
            for c in [dir, dir.deletingLastPathComponent(), dir.deletingLastPathComponent().deletingLastPathComponent()] {
                let u = c.appendingPathComponent("index-crash-harness")
                if fm.isExecutableFile(atPath: u.path) { return u }
            }
        }
        throw HarnessMissing()
    }
}

/// The crash harness executable is not beside the test bundle.
struct HarnessMissing: Error, CustomStringConvertible {
    var description: String { "index-crash-harness not found next to the test bundle: build the package (swift build) first" }
}

/// Collects complete lines from a pipe on a background thread.
final class LineCollector: @unchecked Sendable {
    private let lock = NSCondition()
    private var lines: [String] = []
    private var partial = Data()
    private var eof = false

    init(_ handle: FileHandle) {
        Thread {
            while true {
                let chunk = handle.availableData
                self.lock.lock()
                if chunk.isEmpty {
                    self.eof = true
                    self.lock.broadcast()
                    self.lock.unlock()
                    return
                }
                self.partial.append(chunk)
                while let nl = self.partial.firstIndex(of: 0x0A) {
                    self.lines.append(String(decoding: self.partial[self.partial.startIndex..<nl], as: UTF8.self))
                    self.partial = Data(self.partial[(nl + 1)...])
                }
                self.lock.broadcast()
                self.lock.unlock()
            }
        }.start()
    }

    func waitForLine(prefix: String, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while !lines.contains(where: { $0.hasPrefix(prefix) }) {
            if eof || !lock.wait(until: deadline) { return false }
        }
        return true
    }

    /// Every complete line, once the writer has gone (a cut-off last line is dropped).
    func finish() -> [String] {
        lock.lock()
        defer { lock.unlock() }
        while !eof { lock.wait() }
        return lines
    }
}
