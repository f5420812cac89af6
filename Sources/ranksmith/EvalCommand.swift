import ArgumentParser
import Encoder
import Foundation
import Numerics
import Refinement

/// `ranksmith eval …`: evaluation of an embedding model.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Evaluate an embedding model.",
        subcommands: [EvalSTSCommand.self, EvalRetrievalCommand.self, EvalListsCommand.self])
}

/// `ranksmith eval sts --model DIR --data FILE`: Spearman × 100 of cosine
/// similarity against gold scores; prints one JSON line.
struct EvalSTSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sts", abstract: "Spearman x 100 on a JSONL file of sentence1, sentence2, score.")

    @Option(help: "Sentence-transformers model folder.")
    var model: String = "models/all-MiniLM-L6-v2"

    @Option(help: "JSONL with sentence1, sentence2, score.")
    var data: String

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let threads = configureThreads(threads)
        let pairs = try STSPairs(path: data)
        let model = try loadModel(model)
        let started = Date()
        let result = STSEvaluation.run(model: model, pairs: pairs, threads: threads)
        let object: [String: Any] = [
            "spearman": (result.spearman * 10_000).rounded() / 10_000,
            "pearson": (result.pearson * 10_000).rounded() / 10_000,
            "pairs": pairs.count,
            "seconds": (Date().timeIntervalSince(started) * 100).rounded() / 100,
        ]
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

/// `ranksmith eval lists --model DIR --lists FILE`: how well a model ranks
/// ranking lists (mean Spearman × 100 of cosine-to-anchor against list
/// order); prints one JSON line.
struct EvalListsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lists", abstract: "Mean Spearman x 100 of each list's order against cosine to its anchor.")

    @Option(help: "Sentence-transformers model folder.")
    var model: String = "models/all-MiniLM-L6-v2"

    @Option(help: "JSONL ranking lists ({\"list\": [anchor, x1, ...]} per line).")
    var lists: String

    @Option(help: "Tokens per sentence.")
    var maxLength: Int = 32

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let threads = configureThreads(threads)
        let rankingLists: RankingLists
        do { rankingLists = try RankingLists(path: lists) } catch { throw ValidationError("\(error)") }
        let model = try loadModel(model)
        let spearman = ListOrderEvaluation.run(model: model, lists: rankingLists.lists, maxLength: maxLength, threads: threads)
        let object: [String: Any] = ["spearman": (spearman * 10_000).rounded() / 10_000, "lists": rankingLists.lists.count]
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}
