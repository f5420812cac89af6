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
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-eval-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let store = try CollectionStore(directory: tmp)
        guard let kind = IndexKind(rawValue: index) else { throw ValidationError("--index must be flat or hnsw") }
        let collection = try store.create(name: "eval", dimensions: model.dimensions, modelVersion: "eval",
                                          settings: CollectionSettings(indexKind: kind))
        let docVectors = model.embedAll(set.documents.map(\.text), batchSize: 32, threads: threads).vectors
        var batch: [(document: Document, vector: [Float])] = []
        for (i, doc) in set.documents.enumerated() {
            batch.append((Document(id: doc.id, text: doc.text), docVectors.row(i)))
            if batch.count == 256 || i == set.documents.count - 1 { try collection.upsert(batch); batch.removeAll() }
        }
        let queryVectors = model.embedAll(set.queries.map(\.text), batchSize: 32, threads: threads).vectors
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
        let object: [String: Any] = [
            "ndcg@10": (ndcg / n * 10_000).rounded() / 10_000,
            "recall@100": (recall / n * 10_000).rounded() / 10_000,
            "queries": judged, "documents": set.documents.count, "index": index,
            "seconds": (Date().timeIntervalSince(started) * 100).rounded() / 100,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }
}

/// A retrieval test collection in the BEIR layout.
struct BEIRSet {
    struct Text { var id: String; var text: String }
    var documents: [Text] = []
    var queries: [Text] = []
    /// query id → document id → graded gain.
    var qrels: [String: [String: Double]] = [:]

    /// An `_id` as a string (some collections write numbers).
    static func identifier(_ value: Any?) -> String? {
        if let s = value as? String { return s }
        if let n = value as? NSNumber { return n.stringValue }
        return nil
    }

    init(directory: URL) throws {
        func lines(_ name: String) throws -> [Data] {
            let url = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else { throw ValidationError("cannot read \(url.path)") }
            return data.split(separator: UInt8(ascii: "\n")).map { Data($0) }
        }
        func objects(_ name: String) throws -> [[String: Any]] {
            try lines(name).enumerated().compactMap { n, line in
                if line.allSatisfy({ $0 == 32 || $0 == 13 }) { return nil }
                guard let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw ValidationError("\(name):\(n + 1): not a JSON object")
                }
                return o
            }
        }
        for o in try objects("corpus.jsonl") {
            guard let id = Self.identifier(o["_id"]) else { throw ValidationError("corpus.jsonl: a document lacks an _id") }
            let title = (o["title"] as? String) ?? ""
            let text = (o["text"] as? String) ?? ""
            // BEIR's convention for sentence-transformers models: title, space, text.
            documents.append(Text(id: id, text: title.isEmpty ? text : (text.isEmpty ? title : title + " " + text)))
        }
        for o in try objects("queries.jsonl") {
            guard let id = Self.identifier(o["_id"]), let text = o["text"] as? String else {
                throw ValidationError("queries.jsonl: a query lacks _id or text")
            }
            queries.append(Text(id: id, text: text))
        }
        let qrelsName = FileManager.default.fileExists(atPath: directory.appendingPathComponent("qrels.tsv").path) ? "qrels.tsv" : "qrels/test.tsv"
        for (n, line) in try lines(qrelsName).enumerated() {
            let fields = String(decoding: line, as: UTF8.self).split(separator: "\t").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard fields.count >= 3 else { continue }
            guard let gain = Double(fields[2]) else {
                if n == 0 { continue }  // header line
                throw ValidationError("\(qrelsName):\(n + 1): score '\(fields[2])' is not a number")
            }
            qrels[fields[0], default: [:]][fields[1]] = gain
        }
    }
}
