import ArgumentParser
import Encoder
import Foundation
import Numerics
import Refinement

/// `ranksmith lists-report --model DIR --lists FILE [--rejected FILE]`:
/// whether synthesised lists rank under an embedding model; one JSON line.
struct ListsReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lists-report",
        abstract: "Mean cos(x_r, x_0) per round, Spearman(r, cos) and stop shares of a ranking-list dataset.")

    @Option(help: "Sentence-transformers model folder.")
    var model: String = "models/all-MiniLM-L6-v2"

    @Option(help: "JSONL of kept lists (ranksmith synthesize --output).")
    var lists: String

    @Option(help: "JSONL of dropped chains, for the stop shares.")
    var rejected: String?

    @OptionGroup(title: "Teacher filter (counts of what it would keep; --model is the teacher)")
    var filter: TeacherFilterOptions

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let threads = configureThreads(threads)
        let bert = try BertModel(directory: URL(fileURLWithPath: model))
        let settings = try filter.settings()
        let q = try ListQuality.measure(model: bert, lists: lists, rejected: rejected, threads: threads)
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(q)) as? [String: Any] ?? [:]
        // What the teacher filter keeps of these lists, and why it cuts or drops the rest.
        let records: [[String]]
        do { records = try RankingLists(path: lists).lists } catch { throw ValidationError("\(error)") }
        let report = TeacherFilter(settings: settings).filter(records, teacher: bert, threads: threads).report
        FileHandle.standardError.write(Data((report.summaryLine + "\n").utf8))
        object["teacher_filter"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report))
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}
