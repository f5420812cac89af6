import ArgumentParser
import Encoder
import Foundation
import Numerics
import Refinement

/// The teacher filter's options, shared by `filter-lists`, `train`,
/// `synthesize` and `lists-report` (docs/refinement.md, "Lists checked by the teacher").
struct TeacherFilterOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Check lists with the teacher encoder: cut near-copy and off-topic rounds, drop lists whose similarity to x0 does not fall.")
    var teacherFilter = true

    @Option(help: "A round whose cosine to the previous round is above this is a near-copy (1 = rule off).")
    var filterMaxPreviousCosine = TeacherFilterSettings().maxPreviousCosine

    @Option(help: "A round whose cosine to the anchor is below this is off topic (-1 = rule off).")
    var filterMinAnchorCosine = TeacherFilterSettings().minAnchorCosine

    @Option(help: "A list whose Spearman(r, cos(x_r, x_0)) is above this does not fall (1 = rule off).")
    var filterMaxSpearman = TeacherFilterSettings().maxSpearman

    @Option(help: "Fewest sentences (x0 included) a cut list keeps (default: --min-list-length where the command has it, else 5).")
    var filterMinListLength: Int?

    /// The settings, validated (messages name the CLI option); a cut list
    /// keeps at least `minListLength` sentences unless the option says otherwise.
    func settings(minListLength: Int? = nil) throws -> TeacherFilterSettings {
        var s = TeacherFilterSettings()
        s.enabled = teacherFilter
        s.maxPreviousCosine = filterMaxPreviousCosine
        s.minAnchorCosine = filterMinAnchorCosine
        s.maxSpearman = filterMaxSpearman
        s.minListLength = filterMinListLength ?? max(RankingLists.minimumLength, minListLength ?? s.minListLength)
        do { try s.validate() } catch let e as SynthesisError {
            throw ValidationError("--" + e.description.replacingOccurrences(of: "_", with: "-"))
        }
        return s
    }
}

/// `ranksmith filter-lists --lists IN --output OUT`: the teacher filter on a
/// lists file; writes the lists to train on and prints the counts.
struct FilterListsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter-lists",
        abstract: "Check ranking lists with the teacher encoder; write the kept (and cut) lists and print counts per reason.")

    @Option(help: "Teacher encoder: a sentence-transformers model folder.")
    var teacher: String = "models/all-MiniLM-L6-v2"

    @Option(help: "JSONL of lists to check.")
    var lists: String

    @Option(help: "JSONL to write the lists to train on to (replaced).")
    var output: String

    @Option(help: "JSONL to write the dropped lists to, each with its reason.")
    var dropped: String?

    @Option(help: "JSONL to write each list's measures to: cos to the previous round, cos to x0, Spearman.")
    var scores: String?

    @OptionGroup var filter: TeacherFilterOptions

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let threads = configureThreads(threads)
        let settings = try filter.settings()
        let model = try loadModel(teacher)
        if let scores {
            let records = try RankingLists(path: lists).lists
            let m = model.embedAll(records.flatMap { $0 }, batchSize: 32, normalize: true, threads: threads).vectors
            var out = Data(), offset = 0
            func r4(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }
            for list in records {
                let v = (0..<list.count).map { m.row(offset + $0) }
                offset += list.count
                let s = TeacherFilter.measures(vectors: v)
                var o: [String: Any] = ["anchor": list[0], "previous": s.previous.map(r4), "anchor_cosine": s.anchor.map(r4)]
                if let rho = s.spearman { o["spearman"] = r4(rho) }
                out.append(try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]))
                out.append(0x0A)
            }
            try out.write(to: URL(fileURLWithPath: scores))
        }
        let report: TeacherFilterReport
        do {
            report = try TeacherFilter(settings: settings).filterFile(input: lists, output: output, dropped: dropped, teacher: model, threads: threads)
        } catch let e as SynthesisError { throw ValidationError(e.description) }
        FileHandle.standardError.write(Data((report.summaryLine + "\n").utf8))
        let json = try JSONEncoder.sorted.encode(report)
        print(String(decoding: json, as: UTF8.self))
    }
}

extension JSONEncoder {
    /// Keys sorted, as every CLI summary prints them.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
