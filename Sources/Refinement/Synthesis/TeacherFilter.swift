import Encoder
import Foundation
import Storage

// MARK: - Lists checked by the teacher before training
//
// docs/method.md's advice for generated candidates: score them with a
// similarity model and keep the good ones. Every list is embedded with the
// teacher encoder (the model the trainer's targets come from), and a reader's
// three complaints about a bad list become three measurable rules:
//
//   near_copy    round r barely changes round r − 1: cos(x_r, x_(r−1)) > max_previous_cosine
//   off_topic    round r jumps away from the anchor:   cos(x_r, x_0)     < min_anchor_cosine
//   not_falling  similarity to x0 does not fall with rank: Spearman(r, cos(x_r, x_0)) over
//                r ≥ 1 is above max_spearman (needs at least 3 rewrites to be measured)
//
// A list is cut at its first near-copy or off-topic round (the prefix before
// it is kept when it still has `min_list_length` sentences, else the list is
// dropped for that reason); the surviving list is then dropped when it does
// not fall. Cutting a list that has already passed changes nothing, so the
// filter may run twice over the same lists (after synthesis and before
// training) with the same outcome.

/// The filter's switch and thresholds (docs/refinement.md, "Lists checked by
/// the teacher", says how the defaults were chosen).
public struct TeacherFilterSettings: Codable, Sendable, Equatable {
    /// Whether lists are checked at all.
    public var enabled = true
    /// A round whose cosine to the previous round is above this is a near-copy.
    public var maxPreviousCosine = 0.95
    /// A round whose cosine to the anchor is below this is off topic.
    public var minAnchorCosine = 0.2
    /// A list whose Spearman(r, cos(x_r, x_0)) is above this does not fall.
    public var maxSpearman = -0.3
    /// Fewest sentences (x0 included) a cut list keeps; shorter ones are dropped.
    public var minListLength = 5

    public init() {}

    /// The JSON names, as job fields (and, with dashes, CLI options).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled = "teacher_filter", maxPreviousCosine = "filter_max_previous_cosine"
        case minAnchorCosine = "filter_min_anchor_cosine", maxSpearman = "filter_max_spearman"
        case minListLength = "filter_min_list_length"
    }

    /// Every job field the filter reads.
    public static let fields = CodingKeys.allCases.map(\.rawValue)

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TeacherFilterSettings()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        maxPreviousCosine = try c.decodeIfPresent(Double.self, forKey: .maxPreviousCosine) ?? d.maxPreviousCosine
        minAnchorCosine = try c.decodeIfPresent(Double.self, forKey: .minAnchorCosine) ?? d.minAnchorCosine
        maxSpearman = try c.decodeIfPresent(Double.self, forKey: .maxSpearman) ?? d.maxSpearman
        minListLength = try c.decodeIfPresent(Int.self, forKey: .minListLength) ?? d.minListLength
    }

    /// Throws `SynthesisError.invalidSetting` naming the first bad field.
    public func validate() throws {
        func bad(_ key: CodingKeys, _ rule: String) -> SynthesisError {
            .invalidSetting(field: key.rawValue, message: "\(key.rawValue) must be \(rule)")
        }
        guard maxPreviousCosine.isFinite && maxPreviousCosine > -1 && maxPreviousCosine <= 1 else {
            throw bad(.maxPreviousCosine, "a cosine in (-1, 1] (1 turns the near-copy rule off)")
        }
        guard minAnchorCosine.isFinite && minAnchorCosine >= -1 && minAnchorCosine < 1 else {
            throw bad(.minAnchorCosine, "a cosine in [-1, 1) (-1 turns the off-topic rule off)")
        }
        guard maxSpearman.isFinite && maxSpearman >= -1 && maxSpearman <= 1 else {
            throw bad(.maxSpearman, "a correlation in [-1, 1] (1 turns the falling rule off)")
        }
        guard minListLength >= RankingLists.minimumLength && minListLength <= 1000 else {
            throw bad(.minListLength, "between \(RankingLists.minimumLength) and 1000")
        }
    }

    /// Decodes the filter's fields among a job's flat parameters (defaults
    /// for the absent ones) and validates them; errors name the field.
    public static func parse(_ fields: [String: JSONValue]) throws -> TeacherFilterSettings {
        var s = TeacherFilterSettings()
        for key in CodingKeys.allCases {
            guard let value = fields[key.rawValue], value != .null else { continue }
            func number() throws -> Double {
                guard let n = value.numberValue, n.isFinite else {
                    throw SynthesisError.invalidSetting(field: key.rawValue, message: "\(key.rawValue) must be a number")
                }
                return n
            }
            switch key {
            case .enabled:
                guard let b = value.boolValue else {
                    throw SynthesisError.invalidSetting(field: key.rawValue, message: "teacher_filter must be true or false")
                }
                s.enabled = b
            case .maxPreviousCosine: s.maxPreviousCosine = try number()
            case .minAnchorCosine: s.minAnchorCosine = try number()
            case .maxSpearman: s.maxSpearman = try number()
            case .minListLength:
                let n = try number()
                guard n.rounded() == n, abs(n) < 1e9 else {
                    throw SynthesisError.invalidSetting(field: key.rawValue, message: "\(key.rawValue) must be a whole number")
                }
                s.minListLength = Int(n)
            }
        }
        try s.validate()
        return s
    }
}

/// Why the filter cut or dropped a list.
public enum TeacherFilterReason: String, Codable, Sendable, CaseIterable {
    case nearCopy = "near_copy", offTopic = "off_topic", notFalling = "not_falling"
}

/// What the filter did to one list.
public struct TeacherFilterOutcome: Sendable, Equatable {
    /// The list to train on (a prefix of the input), or nil when dropped.
    public var kept: [String]?
    /// Why it was cut or dropped; nil for a list kept whole.
    public var reason: TeacherFilterReason?
    /// The round (1-based) where the list was cut, when it was.
    public var cutAt: Int?
    /// Spearman(r, cos(x_r, x_0)) of the list that was judged (nil when too short to measure).
    public var spearman: Double?
}

/// Counts of one filtering: lists and rounds kept and removed, and why.
public struct TeacherFilterReport: Codable, Sendable, Equatable {
    /// Whether the filter ran (false: everything passed unchecked).
    public var enabled = true
    /// The thresholds it ran with.
    public var settings = TeacherFilterSettings()
    /// Lists read; kept whole; kept as a shorter prefix; dropped.
    public var listsIn = 0
    public var listsKept = 0
    public var listsCut = 0
    public var listsDropped = 0
    /// Rounds (rewrites, x0 not counted) read and kept.
    public var roundsIn = 0
    public var roundsKept = 0
    /// Lists cut, and lists dropped, by reason.
    public var cutBy: [String: Int] = [:]
    public var droppedBy: [String: Int] = [:]
    /// Rounds removed (cut off, or in a dropped list), by reason.
    public var roundsRemovedBy: [String: Int] = [:]

    public init() {}

    enum CodingKeys: String, CodingKey {
        case enabled, settings, listsIn = "lists_in", listsKept = "lists_kept", listsCut = "lists_cut"
        case listsDropped = "lists_dropped", roundsIn = "rounds_in", roundsKept = "rounds_kept"
        case cutBy = "cut_by", droppedBy = "dropped_by", roundsRemovedBy = "rounds_removed_by"
    }

    /// Lists that go on to training (whole or cut).
    public var listsOut: Int { listsKept + listsCut }

    mutating func add(input: [String], _ o: TeacherFilterOutcome) {
        listsIn += 1
        let rounds = max(0, input.count - 1)
        roundsIn += rounds
        let keptRounds = max(0, (o.kept?.count ?? 1) - 1)
        roundsKept += o.kept == nil ? 0 : keptRounds
        guard let reason = o.reason else { listsKept += 1; return }
        if o.kept == nil {
            listsDropped += 1
            droppedBy[reason.rawValue, default: 0] += 1
            roundsRemovedBy[reason.rawValue, default: 0] += rounds
        } else {
            listsCut += 1
            cutBy[reason.rawValue, default: 0] += 1
            roundsRemovedBy[reason.rawValue, default: 0] += rounds - keptRounds
        }
    }

    /// One line for logs and job notes.
    public var summaryLine: String {
        guard enabled else { return "teacher filter off: \(listsIn) lists passed unchecked" }
        func reasons(_ d: [String: Int]) -> String {
            d.isEmpty ? "" : " (" + d.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"
        }
        return "teacher filter: \(listsIn) lists in, \(listsKept) kept whole, \(listsCut) cut\(reasons(cutBy)), "
            + "\(listsDropped) dropped\(reasons(droppedBy)); rounds kept \(roundsKept) of \(roundsIn)"
    }
}

/// The filter: `settings` applied with a teacher encoder.
public struct TeacherFilter: Sendable {
    public var settings: TeacherFilterSettings

    public init(settings: TeacherFilterSettings = TeacherFilterSettings()) { self.settings = settings }

    /// The measures the rules read, for round r = 1, 2, … (index r − 1):
    /// cos(x_r, x_(r−1)), cos(x_r, x_0), and Spearman(r, cos(x_r, x_0)) when
    /// there are at least 3 rounds.
    public static func measures(vectors: [[Float]]) -> (previous: [Double], anchor: [Double], spearman: Double?) {
        func cos(_ a: Int, _ b: Int) -> Double {
            var dot: Float = 0
            for (x, y) in zip(vectors[a], vectors[b]) { dot += x * y }
            return Double(dot)
        }
        let rounds = Array(1..<max(1, vectors.count))
        let previous = rounds.map { cos($0, $0 - 1) }, anchor = rounds.map { cos($0, 0) }
        let spearman = rounds.count >= 3 ? RankingMetrics.spearman(rounds.map(Double.init), anchor) : nil
        return (previous, anchor, spearman)
    }

    /// Judges one list from its sentences' L2-normalised vectors (`vectors[i]` for `list[i]`).
    public func judge(_ list: [String], vectors: [[Float]]) -> TeacherFilterOutcome {
        precondition(list.count == vectors.count)
        func cos(_ a: Int, _ b: Int) -> Double {
            var dot: Float = 0
            for (x, y) in zip(vectors[a], vectors[b]) { dot += x * y }
            return Double(dot)
        }
        var end = list.count, reason: TeacherFilterReason?
        for r in 1..<max(1, list.count) {
            if cos(r, r - 1) > settings.maxPreviousCosine { end = r; reason = .nearCopy; break }
            if cos(r, 0) < settings.minAnchorCosine { end = r; reason = .offTopic; break }
        }
        if let reason, end < settings.minListLength {
            return TeacherFilterOutcome(kept: nil, reason: reason, cutAt: end, spearman: nil)
        }
        let kept = Array(list.prefix(end))
        var spearman: Double?
        if kept.count >= 4 {
            let rounds = (1..<kept.count).map(Double.init)
            let sims = (1..<kept.count).map { cos($0, 0) }
            let rho = RankingMetrics.spearman(rounds, sims)
            spearman = rho
            if !(rho <= settings.maxSpearman) {
                return TeacherFilterOutcome(kept: nil, reason: .notFalling, cutAt: nil, spearman: rho)
            }
        }
        return TeacherFilterOutcome(kept: kept, reason: reason, cutAt: reason == nil ? nil : end, spearman: spearman)
    }

    /// Embeds every sentence of `lists` with `teacher` (normalised) and judges each list.
    public func judge(_ lists: [[String]], teacher: BertModel, threads: Int = 1) -> [TeacherFilterOutcome] {
        guard settings.enabled else { return lists.map { TeacherFilterOutcome(kept: $0, reason: nil) } }
        let flat = lists.flatMap { $0 }
        let m = teacher.embedAll(flat, batchSize: 32, normalize: true, threads: threads).vectors
        var offset = 0, out: [TeacherFilterOutcome] = []
        for list in lists {
            let v = (0..<list.count).map { m.row(offset + $0) }
            offset += list.count
            out.append(judge(list, vectors: v))
        }
        return out
    }

    /// Filters in-memory lists; returns those to train on and the counts.
    public func filter(_ lists: [[String]], teacher: BertModel, threads: Int = 1) -> (lists: [[String]], report: TeacherFilterReport) {
        var report = TeacherFilterReport()
        report.enabled = settings.enabled
        report.settings = settings
        var kept: [[String]] = []
        for (list, o) in zip(lists, judge(lists, teacher: teacher, threads: threads)) {
            report.add(input: list, o)
            if let k = o.kept { kept.append(k) }
        }
        return (kept, report)
    }

    /// Reads a lists JSONL (`{"list": [...], …}` per line), writes the lists
    /// to train on to `output` (each line as read, its `list` cut when the
    /// filter cut it, with `teacher_filter: {reason, cut_at}` added) and,
    /// when `dropped` is given, the dropped lines there with their reason.
    /// The files are written whole to a temporary name and renamed.
    public func filterFile(input: String, output: String, dropped: String?, teacher: BertModel,
                           threads: Int = 1) throws -> TeacherFilterReport {
        guard let data = FileManager.default.contents(atPath: input) else {
            throw SynthesisError.invalidInput(field: "lists", message: "cannot read the lists file \(input)")
        }
        var records: [[String: Any]] = [], lists: [[String]] = []
        for (n, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                  let list = o["list"] as? [String] else {
                throw SynthesisError.invalidInput(field: "lists", message: "\(input):\(n + 1): not a JSON object with a \"list\" of strings")
            }
            records.append(o)
            lists.append(list)
        }
        var report = TeacherFilterReport()
        report.enabled = settings.enabled
        report.settings = settings
        var keptLines = Data(), droppedLines = Data()
        for ((record, list), o) in zip(zip(records, lists), judge(lists, teacher: teacher, threads: threads)) {
            report.add(input: list, o)
            var r = record
            if let reason = o.reason {
                var note: [String: Any] = ["reason": reason.rawValue]
                if let cut = o.cutAt { note["cut_at"] = cut }
                if let s = o.spearman { note["spearman"] = (s * 10_000).rounded() / 10_000 }
                r["teacher_filter"] = note
            }
            if let k = o.kept {
                r["list"] = k
                keptLines.append(try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys, .withoutEscapingSlashes]))
                keptLines.append(0x0A)
            } else {
                droppedLines.append(try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys, .withoutEscapingSlashes]))
                droppedLines.append(0x0A)
            }
        }
        func write(_ d: Data, _ path: String) throws {
            let tmp = path + ".partial"
            do {
                try d.write(to: URL(fileURLWithPath: tmp))
                if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
                try FileManager.default.moveItem(atPath: tmp, toPath: path)
            } catch {
                try? FileManager.default.removeItem(atPath: tmp)
                throw SynthesisError.output("\(path): \(error.localizedDescription)")
            }
        }
        try write(keptLines, output)
        if let dropped { try write(droppedLines, dropped) }
        return report
    }
}
