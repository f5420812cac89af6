import Foundation
import Index
import XCTest

/// Searches running while writes land see a consistent prefix of the
/// acknowledged history: a batch is visible whole or not at all, and never
/// a later batch without the earlier ones.
final class ConcurrencyTests: XCTestCase {
    func testSearchesDuringWritesSeeWholeBatchesInOrder() throws {
        for kind in [IndexKind.flat, .hnsw] {
            let c = try CollectionStore(directory: temporaryDirectory(self))
                .create(name: "c", dimensions: 16, modelVersion: "t", settings: CollectionSettings(indexKind: kind))
            let batches = 60, perBatch = 20
            var gen = ClusteredVectors(dimensions: 16, centres: 8, noise: 0.3, seed: 5)
            let vectors = gen.take(batches * perBatch)
            let query = [Float](repeating: 1, count: 16)
            let done = AtomicFlag()
            let problems = Problems()
            let writer = Thread {
                for b in 0..<batches {
                    let items = (0..<perBatch).map { j -> (document: Document, vector: [Float]) in
                        (Document(id: "b\(b)-\(j)", text: "", metadata: ["batch": .number(Double(b))]), vectors[b * perBatch + j])
                    }
                    do { try c.upsert(items) } catch { problems.add("upsert: \(error)") }
                    if b % 4 == 3 {  // delete a whole earlier batch in one write
                        do { try c.delete(ids: (0..<perBatch).map { "b\(b - 3)-\($0)" }) } catch { problems.add("delete: \(error)") }
                    }
                }
                done.set()
            }
            writer.start()
            var rounds = 0
            while !done.value || rounds < 5 {
                rounds += 1
                let hits = try c.search(vector: query, topK: batches * perBatch, exact: true)
                var perBatchSeen = [Int: Int]()
                for h in hits { perBatchSeen[Int(h.document.metadata["batch"]!.numberValue!), default: 0] += 1 }
                for (b, n) in perBatchSeen where n != perBatch { problems.add("batch \(b) seen \(n)/\(perBatch) times") }
                // Batches appear in order: the highest visible batch implies every lower one not deleted.
                if let top = perBatchSeen.keys.max() {
                    for b in 0..<top where !(b % 4 == 0 && b + 3 <= top) && perBatchSeen[b] == nil {
                        problems.add("batch \(top) visible without batch \(b)")
                    }
                }
                // Approximate searches run concurrently too; every hit must be a stored document.
                for h in try c.search(vector: vectors[rounds % vectors.count], topK: 10) where h.document.metadata["batch"] == nil {
                    problems.add("hit without metadata")
                }
            }
            XCTAssertEqual(problems.all, [], "\(kind)")
            XCTAssertEqual(c.count, batches * perBatch - (batches / 4) * perBatch)
        }
    }
}

/// Messages collected from several threads.
final class Problems: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String) { lock.lock(); if list.count < 20 { list.append(s) }; lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
