// Where the tokenizer tests find their inputs, and how they read the
// fixtures written by scripts/golden_tokens.py (formats described there).

import Foundation
import XCTest
import Tokenization

enum TokenizerFixtures {
    /// The package root (this file is Tests/TokenizationTests/TokenizerFixtures.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let fixtures = packageRoot.appendingPathComponent("Tests/TokenizationTests/Fixtures")

    /// The sentence-transformers folder `make models` leaves (RANKSMITH_MODEL_DIR overrides).
    static let modelDirectory: URL = {
        if let dir = ProcessInfo.processInfo.environment["RANKSMITH_MODEL_DIR"] { return URL(fileURLWithPath: dir) }
        return packageRoot.appendingPathComponent("models/all-MiniLM-L6-v2")
    }()

    /// The evaluation sets committed under `data/` (RANKSMITH_DATA_DIR
    /// overrides), as the golden script reads them.
    static let dataDirectory: URL = {
        if let dir = ProcessInfo.processInfo.environment["RANKSMITH_DATA_DIR"] { return URL(fileURLWithPath: dir) }
        return packageRoot.appendingPathComponent("data")
    }()

    /// The reference tokenizer, loaded once from tokenizer.json.
    static func tokenizer() throws -> WordPieceTokenizer {
        try shared.get()
    }

    private static let shared: Result<WordPieceTokenizer, Error> = Result {
        let json = modelDirectory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: json.path) else {
            throw FixtureError("\(json.path) is missing: run `make models` first")
        }
        return try WordPieceTokenizer(tokenizerJSON: json)
    }

    // MARK: - Reading

    static func manifest() throws -> [String: Any] {
        try jsonObject(fixtures.appendingPathComponent("manifest.json")) as? [String: Any] ?? [:]
    }

    static func jsonObject(_ url: URL) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    }

    static func jsonList(_ name: String) throws -> [[String: Any]] {
        guard let list = try jsonObject(fixtures.appendingPathComponent(name)) as? [[String: Any]] else {
            throw FixtureError("\(name) is not a list of objects")
        }
        return list
    }

    /// Lines of a file split on \n only (a trailing empty line dropped), as the script does.
    static func lines(_ url: URL) throws -> [String] {
        var parts = try Data(contentsOf: url).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if parts.last?.isEmpty == true { parts.removeLast() }
        return parts.map { String(decoding: $0, as: UTF8.self) }
    }

    /// The texts of a source in data/: a field of each JSONL record, or each line.
    static func texts(source: String, field: String?) throws -> [String] {
        let url = dataDirectory.appendingPathComponent(source)
        guard let field else { return try lines(url) }
        return try lines(url).filter { !$0.allSatisfy(\.isWhitespace) }.map { line in
            guard let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let text = record[field] as? String else {
                throw FixtureError("\(source): a record has no string field '\(field)'")
            }
            return text
        }
    }

    /// One line of a `.ids` fixture.
    struct Expected {
        var index: Int
        var truncated: Bool
        var ids: [Int32]
    }

    /// Reads a `.ids` fixture: its JSON header and its lines.
    static func ids(_ name: String) throws -> (header: [String: Any], lines: [Expected]) {
        let all = try lines(fixtures.appendingPathComponent(name))
        guard let first = all.first, first.hasPrefix("# "),
              let header = try JSONSerialization.jsonObject(with: Data(first.dropFirst(2).utf8)) as? [String: Any] else {
            throw FixtureError("\(name): no header line")
        }
        let lines = try all.dropFirst().map { line -> Expected in
            let numbers = line.split(separator: " ").map { Int($0) }
            guard numbers.count >= 2, !numbers.contains(nil) else { throw FixtureError("\(name): bad line '\(line.prefix(60))'") }
            return Expected(index: numbers[0]!, truncated: numbers[1]! != 0, ids: numbers.dropFirst(2).map { Int32($0!) })
        }
        return (header, lines)
    }

    /// "101 2023 102" → ids.
    static func parseIds(_ text: Any?) -> [Int32] {
        ((text as? String) ?? "").split(separator: " ").compactMap { Int32($0) }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Shows a text and both tokenisations when they differ.
func describeMismatch(_ tokenizer: WordPieceTokenizer, text: String, expected: [Int32], actual: [Int32]) -> String {
    let escaped = text.unicodeScalars.prefix(200).map { $0.isASCII && $0.value >= 0x20 ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
    let firstDifference = zip(expected, actual).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        ?? min(expected.count, actual.count)
    return """
        text: "\(escaped)"\(text.unicodeScalars.count > 200 ? "…" : "")
          expected (\(expected.count)): \(expected.prefix(40).map(String.init).joined(separator: " "))
          actual   (\(actual.count)): \(actual.prefix(40).map(String.init).joined(separator: " "))
          first difference at \(firstDifference); pieces: \(tokenizer.tokenize(text).prefix(30))
        """
}
