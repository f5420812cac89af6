import Foundation
import XCTest

/// Paths the encoder tests need, found from this file's location.
enum TestPaths {
    /// The repository root (…/Tests/EncoderTests/TestSupport.swift → …).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("models/all-MiniLM-L6-v2")
    static let fixtures = root.appendingPathComponent("Tests/EncoderTests/Fixtures")

    /// `shared/data`, beside the repository or an ancestor, or
    /// `$RANKSMITH_SHARED_DATA`.
    static var sharedData: URL? {
        if let env = ProcessInfo.processInfo.environment["RANKSMITH_SHARED_DATA"] { return URL(fileURLWithPath: env) }
        var dir = root
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("shared/data")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// A fresh temporary directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}
