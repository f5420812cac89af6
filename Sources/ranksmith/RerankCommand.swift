import ArgumentParser
import Encoder
import Foundation
import Numerics

/// `ranksmith rerank --query TEXT --input FILE`: orders the input lines by
/// relevance to the query (cosine of the embedding model, or a
/// cross-encoder's logit with `--cross-encoder`); one JSON object per line,
/// best first: `{"index", "score", "text"}`.
struct RerankCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerank", abstract: "Order the lines of a file by relevance to a query; JSONL out, best first.")

    @Option(help: "Sentence-transformers model folder.")
    var model: String = "models/all-MiniLM-L6-v2"

    @Option(help: "Cross-encoder folder (BertForSequenceClassification); used instead of --model when given.")
    var crossEncoder: String?

    @Option(help: "The query.")
    var query: String

    @Option(help: "Candidates, one per line ('-' for stdin).")
    var input: String

    @Option(help: "Print only the best N.")
    var topN: Int?

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let threads = configureThreads(threads)
        let lines = try readInputLines(input)
        guard !lines.isEmpty else { throw ValidationError("\(input) has no candidates") }
        let scores: [Float]
        if let crossEncoder {
            let cross = try loadModel(crossEncoder)
            guard cross.isCrossEncoder else { throw ValidationError("\(crossEncoder) is not a cross-encoder (BertForSequenceClassification)") }
            scores = cross.crossScores(query: query, documents: lines)
        } else {
            let m = try loadModel(model)
            let v = m.embedAll([query] + lines, batchSize: 32, threads: threads).vectors
            scores = v.data.withUnsafeBufferPointer { p in (1..<v.rows).map { Kernels.dot(p.baseAddress!, p.baseAddress! + $0 * v.cols, v.cols) } }
        }
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        var out = ""
        for i in order.prefix(topN ?? order.count) {
            let object: [String: Any] = ["index": i, "score": Double(scores[i]), "text": lines[i]]
            out += String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self) + "\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
