import Foundation
import Generator
import XCTest

// MARK: - Locating models, fixtures and shared data

/// Paths the generator tests need, found from this file's location.
enum TestPaths {
    /// This test target's folder (symlinks resolved).
    static let testsDir = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()

    /// Committed fixtures.
    static var fixtures: URL { testsDir.appendingPathComponent("Fixtures") }

    /// The repository root: the nearest folder above with a Package.swift.
    static var repoRoot: URL {
        var dir = testsDir
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        return testsDir
    }

    /// The bundled SmolLM2 GGUF (`RANKSMITH_GENERATOR_MODEL` overrides).
    static var modelPath: String? {
        if let p = ProcessInfo.processInfo.environment["RANKSMITH_GENERATOR_MODEL"] { return p }
        let p = repoRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    /// The evaluation sets committed under `data/` (see data/README.md).
    static var data: URL { repoRoot.appendingPathComponent("data") }
}

/// A test input that should exist but does not: the test fails with this
/// message (a skip would hide a broken checkout in CI).
struct MissingTestInput: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The bundled model, loaded once for all tests.
enum SharedModel {
    static let model: LlamaModel? = TestPaths.modelPath.flatMap { try? LlamaModel(path: $0) }

    /// The model; fails the test when the file is absent.
    static func require() throws -> LlamaModel {
        guard let m = model else { throw MissingTestInput("models/SmolLM2-135M-Instruct.Q4_1.gguf missing or unreadable: run `make models`") }
        return m
    }
}
