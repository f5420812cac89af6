import Encoder
import Foundation
import Index

// MARK: - Retrieval evaluation (BEIR layout)

/// An evaluation file or folder that cannot be used; the message says why.
public struct EvaluationDataError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// nDCG@10 and recall@100 of a model on a BEIR-layout set, indexed through
/// the same code path as the server (a flat or HNSW collection in a
/// temporary folder), as `ranksmith eval retrieval` and refine gates use it.
public enum RetrievalEvaluation {
    /// Scores, each a mean over the queries with a positive judgement.
    public struct Scores: Sendable {
        public var ndcgAt10: Double
        public var recallAt100: Double
        public var queries: Int
    }

    /// Embeds `set`'s corpus and queries with `model`, searches the top 100
    /// per query and averages the metrics.
    public static func run(model: BertModel, set: BEIRSet, indexKind: IndexKind = .flat, threads: Int,
                           stop: () -> Bool = { false }) throws -> Scores {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-eval-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let store = try CollectionStore(directory: tmp)
        let collection = try store.create(name: "eval", dimensions: model.dimensions, modelVersion: "eval",
                                          settings: CollectionSettings(indexKind: indexKind))
        let docVectors = model.embedAll(set.documents.map(\.text), batchSize: 32, threads: threads, stop: stop).vectors
        var batch: [(document: Document, vector: [Float])] = []
        for (i, doc) in set.documents.enumerated() {
            batch.append((Document(id: doc.id, text: doc.text), docVectors.row(i)))
            if batch.count == 256 || i == set.documents.count - 1 { try collection.upsert(batch); batch.removeAll() }
        }
        let queryVectors = model.embedAll(set.queries.map(\.text), batchSize: 32, threads: threads, stop: stop).vectors
        var ndcg = 0.0, recall = 0.0, judged = 0
        for (i, q) in set.queries.enumerated() {
            guard let gains = set.qrels[q.id], gains.values.contains(where: { $0 > 0 }) else { continue }
            let hits = try collection.search(vector: queryVectors.row(i), topK: 100)
            let ranked = hits.map(\.document.id)
            ndcg += RankingMetrics.ndcg(ranked: ranked, gains: gains, k: 10)
            recall += RankingMetrics.recall(ranked: ranked, gains: gains, k: 100)
            judged += 1
        }
        let n = Double(max(judged, 1))
        return Scores(ndcgAt10: ndcg / n, recallAt100: recall / n, queries: judged)
    }
}

/// A retrieval test collection in the BEIR layout.
public struct BEIRSet: Sendable {
    /// A document or a query.
    public struct Text: Sendable { public var id: String; public var text: String }
    public var documents: [Text] = []
    public var queries: [Text] = []
    /// query id → document id → graded gain.
    public var qrels: [String: [String: Double]] = [:]

    /// An `_id` as a string (some collections write numbers).
    static func identifier(_ value: Any?) -> String? {
        if let s = value as? String { return s }
        if let n = value as? NSNumber { return n.stringValue }
        return nil
    }

    /// Reads `corpus.jsonl`, `queries.jsonl` and `qrels.tsv` (or
    /// `qrels/test.tsv`) from `directory`; throws `EvaluationDataError`.
    public init(directory: URL) throws {
        func lines(_ name: String) throws -> [Data] {
            let url = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else { throw EvaluationDataError("cannot read \(url.path)") }
            return data.split(separator: UInt8(ascii: "\n")).map { Data($0) }
        }
        func objects(_ name: String) throws -> [[String: Any]] {
            try lines(name).enumerated().compactMap { n, line in
                if line.allSatisfy({ $0 == 32 || $0 == 13 }) { return nil }
                guard let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw EvaluationDataError("\(name):\(n + 1): not a JSON object")
                }
                return o
            }
        }
        for o in try objects("corpus.jsonl") {
            guard let id = Self.identifier(o["_id"]) else { throw EvaluationDataError("corpus.jsonl: a document lacks an _id") }
            let title = (o["title"] as? String) ?? ""
            let text = (o["text"] as? String) ?? ""
            // BEIR's convention for sentence-transformers models: title, space, text.
            documents.append(Text(id: id, text: title.isEmpty ? text : (text.isEmpty ? title : title + " " + text)))
        }
        for o in try objects("queries.jsonl") {
            guard let id = Self.identifier(o["_id"]), let text = o["text"] as? String else {
                throw EvaluationDataError("queries.jsonl: a query lacks _id or text")
            }
            queries.append(Text(id: id, text: text))
        }
        let qrelsName = FileManager.default.fileExists(atPath: directory.appendingPathComponent("qrels.tsv").path) ? "qrels.tsv" : "qrels/test.tsv"
        for (n, line) in try lines(qrelsName).enumerated() {
            let fields = String(decoding: line, as: UTF8.self).split(separator: "\t").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard fields.count >= 3 else { continue }
            guard let gain = Double(fields[2]) else {
                if n == 0 { continue }  // header line
                throw EvaluationDataError("\(qrelsName):\(n + 1): score '\(fields[2])' is not a number")
            }
            qrels[fields[0], default: [:]][fields[1]] = gain
        }
    }
}
