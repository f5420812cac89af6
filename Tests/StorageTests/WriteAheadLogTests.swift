import Foundation
import Storage
import Synchronization
import XCTest

/// The generic log: records come back in order after a reopen, a torn tail
/// is cut off, a foreign or damaged log is refused, a failed fsync stops writes.
final class WriteAheadLogTests: XCTestCase {
    let format = WriteAheadLog.Format(magic: Array("TESTLOG\0".utf8), parameter: 7, parameterName: "shape")

    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wal-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Opens the log in `dir`; answers it and the (lsn, kind, text) records replayed after `after`.
    func open(_ dir: String, after: UInt64 = 0, format: WriteAheadLog.Format? = nil,
              faults: FaultInjection? = nil) throws -> (WriteAheadLog, [(UInt64, UInt8, String)]) {
        let log = WriteAheadLog(directory: dir, format: format ?? self.format, faults: faults)
        var seen: [(UInt64, UInt8, String)] = []
        try log.recover(after: after) { record in
            var r = record.reader
            seen.append((record.lsn, record.kind, try r.string("text")))
        }
        return (log, seen)
    }

    func append(_ log: WriteAheadLog, _ text: String, kind: UInt8 = 1) throws -> UInt64 {
        let lsn = try log.append(kind: kind) { $0.string(text) }
        try log.commit(lsn)
        return lsn
    }

    func testRecordsComeBackInOrderAfterReopen() throws {
        let dir = try temporaryDirectory()
        do {
            let (log, seen) = try open(dir)
            XCTAssertTrue(seen.isEmpty)
            XCTAssertEqual(try append(log, "one"), 1)
            XCTAssertEqual(try append(log, "two", kind: 2), 2)
            XCTAssertEqual(try log.rotate(), 2)
            XCTAssertEqual(try append(log, "three"), 3)
        }
        let (log, seen) = try open(dir)
        XCTAssertEqual(seen.map(\.0), [1, 2, 3])
        XCTAssertEqual(seen.map(\.1), [1, 2, 1])
        XCTAssertEqual(seen.map(\.2), ["one", "two", "three"])
        XCTAssertEqual(try append(log, "four"), 4, "LSNs continue after recovery")
        // A snapshot covering LSN 2: its segment goes, replay starts after it.
        try log.removeSegments(coveredBy: 2)
        XCTAssertEqual(log.segments().map(\.start), [3])
        let (_, after) = try open(dir, after: 2)
        XCTAssertEqual(after.map(\.2), ["three", "four"])
    }

    func testTornTailIsCutOffAndWritingContinues() throws {
        let dir = try temporaryDirectory()
        do {
            let (log, _) = try open(dir)
            _ = try append(log, "kept")
            _ = try append(log, "torn")
        }
        // Cut the last record in half, as a crash during its write would.
        let segment = WriteAheadLog.segmentName(1)
        let path = dir + "/" + segment
        let bytes = try XCTUnwrap(try FileIO.readFile(path))
        try Data(bytes.dropLast(3)).write(to: URL(fileURLWithPath: path))
        do {
            let (log, seen) = try open(dir)
            XCTAssertEqual(seen.map(\.2), ["kept"])
            XCTAssertEqual(try append(log, "next"), 2)
        }
        XCTAssertEqual(try open(dir).1.map(\.2), ["kept", "next"])
    }

    func testDamageBeforeTheTailAndForeignLogsAreRefused() throws {
        let dir = try temporaryDirectory()
        do {
            let (log, _) = try open(dir)
            for text in ["a", "b", "c"] { _ = try append(log, text) }
        }
        XCTAssertThrowsError(try open(dir, format: .init(magic: Array("TESTLOG\0".utf8), parameter: 8, parameterName: "shape"))) {
            guard case .corruptLog(_, let reason)? = $0 as? StorageError else { return XCTFail("\($0)") }
            XCTAssertEqual(reason, "shape 7, expected 8")
        }
        XCTAssertThrowsError(try open(dir, format: .init(magic: Array("OTHERLOG".utf8), parameter: 7, parameterName: "shape"))) {
            XCTAssertEqual($0 as? StorageError, .corruptLog(path: dir + "/" + WriteAheadLog.segmentName(1), reason: "bad magic"))
        }
        // Flip a byte inside the first record's payload: a good record follows, so this is not a torn tail.
        let path = dir + "/" + WriteAheadLog.segmentName(1)
        var bytes = try XCTUnwrap(try FileIO.readFile(path))
        bytes[WriteAheadLog.headerSize + 8 + 9 + 4] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try open(dir)) {
            guard case .corruptLog(_, let reason)? = $0 as? StorageError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.hasPrefix("bad record at byte"), reason)
        }
    }

    func testBodyTheOwnerCannotDecodeIsCorruption() throws {
        let dir = try temporaryDirectory()
        do {
            let (log, _) = try open(dir)
            let lsn = try log.append(kind: 1) { $0.u8(9) }  // not a string
            try log.commit(lsn)
        }
        XCTAssertThrowsError(try open(dir)) {
            guard case .corruptLog(_, let reason)? = $0 as? StorageError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.hasPrefix("record at byte 16: text needs"), reason)
        }
    }

    func testFailedFsyncStopsWritesUntilReopened() throws {
        let dir = try temporaryDirectory()
        let faults = FaultInjection()
        do {
            let (log, _) = try open(dir, faults: faults)
            _ = try append(log, "durable")
            faults.failSyncs(errno: EIO)
            XCTAssertThrowsError(try append(log, "unsure")) {
                XCTAssertEqual($0 as? StorageError, .ioFailed(path: dir + "/" + WriteAheadLog.segmentName(1), operation: "fsync", errno: EIO))
            }
            XCTAssertThrowsError(try append(log, "refused")) {
                guard case .unavailable? = $0 as? StorageError else { return XCTFail("\($0)") }
            }
            log.close()
        }
        let (log, seen) = try open(dir)
        XCTAssertEqual(seen.first?.2, "durable")
        XCTAssertFalse(seen.map(\.2).contains("refused"))
        _ = try append(log, "after restart")
    }

    func testConcurrentWritersShareFsyncsAndLoseNothing() throws {
        let dir = try temporaryDirectory()
        do {
            let (log, _) = try open(dir)
            let failures = Failures()
            DispatchQueue.concurrentPerform(iterations: 8) { t in
                for j in 0..<50 {
                    do {
                        let lsn = try log.append(kind: 1) { $0.string("w\(t)-\(j)") }
                        try log.commit(lsn)
                    } catch {
                        failures.count.withLock { $0 += 1 }
                    }
                }
            }
            XCTAssertEqual(failures.count.withLock { $0 }, 0)
        }
        let (_, seen) = try open(dir)
        XCTAssertEqual(seen.map(\.0), Array(1...400))
        XCTAssertEqual(Set(seen.map(\.2)).count, 400)
    }
}

/// Write failures counted from several threads.
final class Failures: Sendable {
    let count = Mutex(0)
}
