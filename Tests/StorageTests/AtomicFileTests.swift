import Foundation
import Storage
import XCTest

/// Whole-file and whole-directory writes: all or nothing, and what a crash
/// leaves behind is recognisable and removable.
final class AtomicFileTests: XCTestCase {
    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("storage-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testWriteReplacesTheFileAndLeavesNoTemporaryFile() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/record.json"
        try AtomicFile.write(Array("first".utf8), to: path)
        try AtomicFile.write(Array("second, longer".utf8), to: path)
        XCTAssertEqual(try FileIO.readFile(path), Array("second, longer".utf8))
        try AtomicFile.write([], to: path)
        XCTAssertEqual(try FileIO.readFile(path), [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["record.json"])
    }

    func testFailedWriteKeepsTheOldContentsAndCleansUp() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/record.json"
        try AtomicFile.write(Array("kept".utf8), to: path)
        let faults = FaultInjection()
        faults.failWrites(errno: ENOSPC)
        XCTAssertThrowsError(try AtomicFile.write(Array("lost".utf8), to: path, faults: faults)) { error in
            guard case .diskFull? = error as? StorageError else { return XCTFail("\(error)") }
        }
        faults.failSyncs(errno: EIO)
        XCTAssertThrowsError(try AtomicFile.write(Array("lost".utf8), to: path, faults: faults)) { error in
            guard case .ioFailed(_, "fsync", EIO)? = error as? StorageError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try FileIO.readFile(path), Array("kept".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["record.json"])
    }

    func testLeftoversOfAnInterruptedWriteAreRecognisedAndRemoved() throws {
        let dir = try temporaryDirectory()
        // What a crash between create and rename leaves: the target's name,
        // the marker, a random hex suffix.
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/snapshot.bin.tmp-3fa9c2", contents: Data("half".utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/snapshot.bin", contents: Data("whole".utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/notes.tmp-draft", contents: Data()))
        XCTAssertTrue(AtomicFile.isLeftover("snapshot.bin.tmp-3fa9c2"))
        XCTAssertFalse(AtomicFile.isLeftover("snapshot.bin"))
        XCTAssertFalse(AtomicFile.isLeftover("notes.tmp-draft"), "not hex: not ours")
        XCTAssertEqual(AtomicFile.removeLeftovers(in: dir), ["snapshot.bin.tmp-3fa9c2"])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["snapshot.bin", "notes.tmp-draft"])
    }

    func testPublishedDirectoryAppearsWholeAndIsNeverOverwritten() throws {
        let parent = try temporaryDirectory()
        try AtomicDirectory.publish("v2", in: parent) { staging in
            XCTAssertTrue(AtomicDirectory.isLeftover((staging as NSString).lastPathComponent), "stages under a recognisable name")
            XCTAssertFalse(FileManager.default.fileExists(atPath: parent + "/v2"), "invisible until complete")
            try AtomicFile.write(Array("{}".utf8), to: staging + "/manifest.json")
            try FileManager.default.createDirectory(atPath: staging + "/1_Pooling", withIntermediateDirectories: false)
            try AtomicFile.write(Array("{\"pooling\": \"mean\"}".utf8), to: staging + "/1_Pooling/config.json")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent), ["v2"])
        XCTAssertEqual(try FileIO.readFile(parent + "/v2/1_Pooling/config.json"), Array("{\"pooling\": \"mean\"}".utf8))
        XCTAssertThrowsError(try AtomicDirectory.publish("v2", in: parent) { _ in XCTFail("must not stage over a published version") }) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists(path: parent + "/v2"))
        }
        XCTAssertEqual(try FileIO.readFile(parent + "/v2/manifest.json"), Array("{}".utf8))
    }

    func testFailedPublishLeavesNothingAndCrashedOnesAreRemoved() throws {
        let parent = try temporaryDirectory()
        struct Interrupted: Error {}
        XCTAssertThrowsError(try AtomicDirectory.publish("v3", in: parent) { staging in
            try AtomicFile.write(Array("partial".utf8), to: staging + "/model.safetensors")
            throw Interrupted()
        }) { XCTAssertTrue($0 is Interrupted) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent), [])
        // A process killed mid-publish leaves its staging folder behind.
        try FileManager.default.createDirectory(atPath: parent + "/.publishing-v4-91ab", withIntermediateDirectories: false)
        XCTAssertTrue(FileManager.default.createFile(atPath: parent + "/.publishing-v4-91ab/model.safetensors", contents: Data("x".utf8)))
        try FileManager.default.createDirectory(atPath: parent + "/v1", withIntermediateDirectories: false)
        XCTAssertEqual(AtomicDirectory.removeLeftovers(in: parent), [".publishing-v4-91ab"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent), ["v1"])
    }
}
