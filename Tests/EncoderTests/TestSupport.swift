import Foundation
import XCTest

/// Paths the encoder tests need, found from this file's location.
enum TestPaths {
    /// The repository root (…/Tests/EncoderTests/TestSupport.swift → …).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("models/all-MiniLM-L6-v2")
    static let fixtures = root.appendingPathComponent("Tests/EncoderTests/Fixtures")

    /// The evaluation sets committed under `data/` (see data/README.md).
    static let data = root.appendingPathComponent("data")

    /// A fresh temporary directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}
