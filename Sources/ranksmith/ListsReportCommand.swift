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

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let threads = configureThreads(threads)
        let bert = try BertModel(directory: URL(fileURLWithPath: model))
        let q = try ListQuality.measure(model: bert, lists: lists, rejected: rejected, threads: threads)
        let json = try JSONEncoder().encode(q)
        print(String(decoding: json, as: UTF8.self))
    }
}
