import Foundation
import Index
import Storage
import XCTest

/// The write-ahead log and snapshots: what was acknowledged survives a
/// restart, what was deleted stays deleted, torn tails are cut off, and
/// damaged files or failing disks give typed errors instead of lost data.
final class DurabilityTests: XCTestCase {
    private func doc(_ i: Int, dims: Int = 8) -> (document: Document, vector: [Float]) {
        var v = [Float](repeating: 0.1, count: dims)
        v[i % dims] += Float(1 + i % 13)
        return (Document(id: "d\(i)", text: "text \(i)", metadata: ["i": .number(Double(i))]), v)
    }

    private func walFiles(_ dir: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent.hasPrefix("wal-") }.sorted { $0.path < $1.path }
    }

    func testDeletesNeverResurfaceAfterRestart() throws {
        let dir = temporaryDirectory(self)
        for kind in [IndexKind.flat, .hnsw] {
            let name = "c-\(kind.rawValue)"
            do {
                let c = try CollectionStore(directory: dir).create(
                    name: name, dimensions: 8, modelVersion: "t", settings: CollectionSettings(indexKind: kind))
                try c.upsert((0..<200).map { doc($0) })
                try c.delete(ids: (0..<200).filter { $0 % 3 == 0 }.map { "d\($0)" })
                try c.snapshot()
                try c.delete(ids: (0..<200).filter { $0 % 3 == 1 }.map { "d\($0)" })
                try c.upsert([doc(3)])  // re-added after its delete
            }
            for _ in 0..<2 {  // twice: recovery itself must not resurrect anything
                let c = try CollectionStore(directory: dir).collection(name)
                let expected = Set((0..<200).filter { $0 % 3 == 2 || $0 == 3 }.map { "d\($0)" })
                XCTAssertEqual(Set(c.allDocuments().map(\.document.id)), expected, name)
                XCTAssertEqual(c.count, expected.count)
                let hits = try c.search(vector: doc(0).vector, topK: 200)
                XCTAssertEqual(Set(hits.map(\.document.id)), expected, name)
                XCTAssertEqual(c.get(id: "d3")?.document.text, "text 3")
                XCTAssertNil(c.get(id: "d6"))
            }
        }
    }

    func testTornLastRecordIsCutOffAndLogStaysUsable() throws {
        let dir = temporaryDirectory(self)
        do {
            let c = try CollectionStore(directory: dir).create(name: "t", dimensions: 8, modelVersion: "t")
            for i in 0..<10 { try c.upsert([doc(i)]) }
        }
        let colDir = dir.appendingPathComponent("t")
        let wal = try XCTUnwrap(walFiles(colDir).last)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: wal.path)[.size] as? Int)
        // Cut the last record in the middle, as a crash during write() would.
        let h = try FileHandle(forWritingTo: wal)
        try h.truncate(atOffset: UInt64(size - 7))
        try h.close()
        do {
            let c = try CollectionStore(directory: dir).collection("t")
            XCTAssertEqual(Set(c.allDocuments().map(\.document.id)), Set((0..<9).map { "d\($0)" }))
            try c.upsert([doc(42)])
        }
        // Garbage after the last good record (a torn page) is cut off too.
        let g = try FileHandle(forWritingTo: wal)
        try g.seekToEnd()
        try g.write(contentsOf: Data([0xFF, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5, 6]))
        try g.close()
        let c = try CollectionStore(directory: dir).collection("t")
        XCTAssertEqual(Set(c.allDocuments().map(\.document.id)), Set((0..<9).map { "d\($0)" } + ["d42"]))
    }

    func testCorruptSnapshotIsATypedError() throws {
        let dir = temporaryDirectory(self)
        do {
            let c = try CollectionStore(directory: dir).create(name: "s", dimensions: 8, modelVersion: "t")
            try c.upsert((0..<50).map { doc($0) })
            try c.snapshot()
        }
        let snap = dir.appendingPathComponent("s/snapshot.bin")
        let good = try Data(contentsOf: snap)
        var flipped = good
        flipped[good.count / 2] ^= 0x40
        var badMagic = good
        badMagic[0] = 0x58
        for (damaged, word) in [(flipped, "checksum"), (badMagic, "magic"), (good.prefix(20), "shorter"), (good.prefix(good.count - 9), "checksum")] {
            try damaged.write(to: snap)
            XCTAssertThrowsError(try CollectionStore(directory: dir)) { error in
                guard case .corruptSnapshot(_, let reason)? = error as? IndexError else { return XCTFail("\(error)") }
                XCTAssertTrue(reason.contains(word), reason)
            }
        }
        try good.write(to: snap)
        XCTAssertEqual(try CollectionStore(directory: dir).collection("s").count, 50)
    }

    func testDamagedRecordBeforeGoodOnesIsCorruptionNotATornTail() throws {
        let dir = temporaryDirectory(self)
        do {
            let c = try CollectionStore(directory: dir).create(name: "m", dimensions: 8, modelVersion: "t")
            for i in 0..<5 { try c.upsert([doc(i)]) }
        }
        let wal = try XCTUnwrap(walFiles(dir.appendingPathComponent("m")).last)
        var bytes = try Data(contentsOf: wal)
        bytes[16 + 8 + 20] ^= 0x01  // inside the first record's payload
        try bytes.write(to: wal)
        XCTAssertThrowsError(try CollectionStore(directory: dir)) { error in
            guard case .corruptLog? = error as? IndexError else { return XCTFail("\(error)") }
        }
    }

    func testMissingSnapshotWithTrimmedLogIsCorruptionNotAnEmptyCollection() throws {
        let dir = temporaryDirectory(self)
        do {
            let c = try CollectionStore(directory: dir).create(name: "x", dimensions: 8, modelVersion: "t")
            try c.upsert((0..<10).map { doc($0) })
            try c.snapshot()
            try c.upsert([doc(10)])
        }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("x/snapshot.bin"))
        XCTAssertThrowsError(try CollectionStore(directory: dir)) { error in
            guard case .corruptLog? = error as? IndexError else { return XCTFail("\(error)") }
        }
    }

    func testDiskFullFailsTheWriteAndLosesNothing() throws {
        let dir = temporaryDirectory(self)
        let faults = FaultInjection()
        do {
            let c = try CollectionStore(directory: dir, options: .init(faults: faults)).create(name: "f", dimensions: 8, modelVersion: "t")
            try c.upsert((0..<20).map { doc($0) })
            faults.failWrites(errno: ENOSPC)
            XCTAssertThrowsError(try c.upsert([doc(100)])) { error in
                guard case .diskFull? = error as? IndexError else { return XCTFail("\(error)") }
            }
            XCTAssertNil(c.get(id: "d100"))
            try c.upsert([doc(101)])  // space is back: writing works again
            XCTAssertEqual(c.count, 21)
        }
        let c = try CollectionStore(directory: dir).collection("f")
        XCTAssertEqual(Set(c.allDocuments().map(\.document.id)), Set((0..<20).map { "d\($0)" } + ["d101"]))
    }

    func testFailedFsyncFailsTheWriteAndStopsWritesUntilRestart() throws {
        let dir = temporaryDirectory(self)
        let faults = FaultInjection()
        do {
            let c = try CollectionStore(directory: dir, options: .init(faults: faults)).create(name: "s", dimensions: 8, modelVersion: "t")
            try c.upsert((0..<20).map { doc($0) })
            faults.failSyncs(errno: EIO)
            XCTAssertThrowsError(try c.upsert([doc(100)])) { error in
                guard case .ioFailed(_, let op, let e)? = error as? IndexError else { return XCTFail("\(error)") }
                XCTAssertEqual(op, "fsync")
                XCTAssertEqual(e, EIO)
            }
            XCTAssertNil(c.get(id: "d100"))
            XCTAssertThrowsError(try c.upsert([doc(101)])) { error in
                guard case .unavailable? = error as? IndexError else { return XCTFail("\(error)") }
            }
            XCTAssertEqual(try c.search(vector: doc(1).vector, topK: 1).first?.document.id, "d1")
        }
        let c = try CollectionStore(directory: dir).collection("s")
        let ids = Set(c.allDocuments().map(\.document.id))
        XCTAssertTrue(Set((0..<20).map { "d\($0)" }).isSubset(of: ids))
        XCTAssertFalse(ids.contains("d101"))
        try c.upsert([doc(102)])
    }

    func testGroupCommitUnderConcurrentWritersKeepsEveryWrite() throws {
        let dir = temporaryDirectory(self)
        do {
            let c = try CollectionStore(directory: dir, options: .init(snapshotEveryBytes: 32 << 10))
                .create(name: "g", dimensions: 8, modelVersion: "t")
            let failures = AtomicFlag()
            DispatchQueue.concurrentPerform(iterations: 8) { t in
                for j in 0..<60 {
                    do { try c.upsert([doc(t * 1000 + j)]) } catch { failures.set() }
                    if j % 10 == 9 { do { try c.delete(ids: ["d\(t * 1000 + j - 5)"]) } catch { failures.set() } }
                }
            }
            XCTAssertFalse(failures.value)
            try c.snapshot()
        }
        let c = try CollectionStore(directory: dir).collection("g")
        var expected = Set<String>()
        for t in 0..<8 { for j in 0..<60 where !(j % 10 == 4) { expected.insert("d\(t * 1000 + j)") } }
        XCTAssertEqual(Set(c.allDocuments().map(\.document.id)), expected)
        XCTAssertLessThanOrEqual(try walFiles(dir.appendingPathComponent("g")).count, 2)
    }
}

/// A flag set from several threads.
final class AtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}
