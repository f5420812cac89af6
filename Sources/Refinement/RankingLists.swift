import Foundation

// MARK: - Ranking lists on disk
//
// One JSON object per line, as synthesis writes them:
//   {"anchor": "…", "list": ["x0 (= anchor)", "x1", …, "xN"], …other fields}
// Only "list" is required; if "anchor" is present it must equal list[0].

/// What is wrong with the training input or settings; each names the file,
/// line or setting so that the caller can fix it. Thrown before any step.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case badLists(file: String, line: Int?, reason: String)
    case badOption(name: String, reason: String)
    case badModel(path: String, reason: String)
    case nonFiniteLoss(step: Int, value: Double)
    case cancelled(step: Int)
    case versionExists(path: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .badLists(file, line, reason):
            return line.map { "\(file):\($0): \(reason)" } ?? "\(file): \(reason)"
        case let .badOption(name, reason): return "\(name): \(reason)"
        case let .badModel(path, reason): return "\(path): \(reason)"
        case let .nonFiniteLoss(step, value):
            return "training stopped at step \(step): the loss is \(value) (lower the learning rate, or check the lists); nothing was written"
        case let .cancelled(step): return "training cancelled at step \(step)"
        case let .versionExists(path): return "\(path) already exists; model versions are immutable, choose a new output folder"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}

/// Validated ranking lists: every list has at least 3 sentences, none
/// empty, no sentence twice in one list.
public struct RankingLists: Sendable {
    /// The lists, anchor first.
    public let lists: [[String]]
    /// The file they came from (for messages and the manifest).
    public let path: String

    /// Fewest sentences a list may have (an anchor and two ranked rewrites).
    public static let minimumLength = 3

    /// Reads and validates a JSONL file.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError.badLists(file: path, line: nil, reason: "cannot read the lists file")
        }
        try self.init(data: data, path: path)
    }

    /// Validates JSONL bytes; `path` names them in errors.
    public init(data: Data, path: String) throws {
        var lists: [[String]] = []
        for (n, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let number = n + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                throw TrainingError.badLists(file: path, line: number, reason: "not a JSON object (the lists file must be JSONL: one {\"anchor\", \"list\"} object per line)")
            }
            guard let list = object["list"] as? [Any] else {
                throw TrainingError.badLists(file: path, line: number, reason: "no \"list\" array of sentences")
            }
            let sentences = list.compactMap { $0 as? String }
            guard sentences.count == list.count else {
                throw TrainingError.badLists(file: path, line: number, reason: "\"list\" must hold strings only")
            }
            guard sentences.count >= Self.minimumLength else {
                throw TrainingError.badLists(file: path, line: number, reason: "a list needs at least \(Self.minimumLength) sentences (the anchor and two rewrites), this one has \(sentences.count)")
            }
            if let empty = sentences.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
                throw TrainingError.badLists(file: path, line: number, reason: "sentence \(empty) of the list is empty")
            }
            var seen: [String: Int] = [:]
            for (i, s) in sentences.enumerated() {
                if let first = seen[s] {
                    throw TrainingError.badLists(file: path, line: number, reason: "sentences \(first) and \(i) of the list are the same (\"\(s.prefix(60))\"); a ranking needs distinct sentences")
                }
                seen[s] = i
            }
            if let anchor = object["anchor"] as? String, anchor != sentences[0] {
                throw TrainingError.badLists(file: path, line: number, reason: "\"anchor\" differs from list[0]; the list must start with its anchor")
            }
            lists.append(sentences)
        }
        guard !lists.isEmpty else { throw TrainingError.badLists(file: path, line: nil, reason: "no lists in the file") }
        self.lists = lists
        self.path = path
    }

    /// Lists given directly (already in memory); validated the same way.
    public init(lists: [[String]], name: String = "<memory>") throws {
        let lines = try lists.map { try JSONSerialization.data(withJSONObject: ["list": $0]) }
        try self.init(data: Data(lines.joined(separator: Data("\n".utf8))), path: name)
    }
}
