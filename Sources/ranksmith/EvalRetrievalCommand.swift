import ArgumentParser
import Encoder
import Foundation
import Index
import Refinement

/// `ranksmith eval retrieval --data DIR`: nDCG@10 and recall@100 on a
/// collection in the BEIR layout, indexed through the same code path as
/// the server (a collection in a temporary data directory).
struct EvalRetrievalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieval", abstract: "nDCG@10 and recall@100 on a BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels).")

    @Option(help: "Sentence-transformers model folder.")
    var model: String = "models/all-MiniLM-L6-v2"

    @Option(help: "Folder with corpus.jsonl, queries.jsonl and qrels.tsv (or qrels/test.tsv).")
    var data: String

    @Option(help: "Index kind: flat or hnsw.")
    var index: String = "flat"

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let threads = configureThreads(threads)
        let set = try BEIRSet(directory: URL(fileURLWithPath: data))
        let model = try loadModel(model)
        let started = Date()
        guard let kind = IndexKind(rawValue: index) else { throw ValidationError("--index must be flat or hnsw") }
        let scores = try RetrievalEvaluation.run(model: model, set: set, indexKind: kind, threads: threads)
        let object: [String: Any] = [
            "ndcg@10": (scores.ndcgAt10 * 10_000).rounded() / 10_000,
            "recall@100": (scores.recallAt100 * 10_000).rounded() / 10_000,
            "queries": scores.queries, "documents": set.documents.count, "index": index,
            "seconds": (Date().timeIntervalSince(started) * 100).rounded() / 100,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }
}
