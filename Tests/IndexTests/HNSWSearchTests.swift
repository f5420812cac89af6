import Foundation
import Index
import XCTest

/// The graph search reuses per-search scratch (visited marks, heaps, an
/// aligned query copy) from a pool; these tests check that nothing leaks
/// from one search into the next, across threads, and as the graph grows.
final class HNSWSearchTests: XCTestCase {
    /// With efSearch at least the number of nodes the best-first walk visits
    /// every reachable node, so it must equal exact search — also after the
    /// graph has grown past the size the first searches' scratch had.
    func testExhaustiveWalkEqualsFlatAsTheGraphGrows() throws {
        let c = try CollectionStore(directory: temporaryDirectory(self))
            .create(name: "g", dimensions: 24, modelVersion: "t", settings: CollectionSettings(indexKind: .hnsw))
        var gen = ClusteredVectors(dimensions: 24, centres: 20, noise: 0.5, seed: 11)
        let queries = gen.take(20)
        var added = 0
        for size in [300, 2500] {
            let docs = gen.take(size - added).enumerated().map {
                (document: Document(id: "d\(added + $0.offset)", text: ""), vector: $0.element)
            }
            try c.upsert(docs)
            added = size
            let exact = try c.search(vectors: queries, topK: 10, exact: true)
            let walked = try queries.map { try c.search(vector: $0, topK: 10, efSearch: 4096) }
            XCTAssertEqual(walked.map { $0.map(\.document.id) }, exact.map { $0.map(\.document.id) }, "\(size) nodes")
        }
    }

    /// The same query gives the same answer alone, inside a batch, and from
    /// several threads at once, at every efSearch (including below topK).
    func testSingleBatchAndConcurrentAnswersAgree() throws {
        let c = try CollectionStore(directory: temporaryDirectory(self))
            .create(name: "g", dimensions: 32, modelVersion: "t", settings: CollectionSettings(indexKind: .hnsw))
        var gen = ClusteredVectors(dimensions: 32, centres: 30, noise: 0.6, seed: 3)
        try c.upsert(gen.take(3000).enumerated().map { (document: Document(id: "d\($0.offset)", text: ""), vector: $0.element) })
        let queries = gen.take(64)
        for ef in [1, 10, 40, 200] {
            let single = try queries.map { try c.search(vector: $0, topK: 10, efSearch: ef).map(\.document.id) }
            let batch = try c.search(vectors: queries, topK: 10, efSearch: ef).map { $0.map(\.document.id) }
            XCTAssertEqual(batch, single, "efSearch \(ef)")
            XCTAssertTrue(single.allSatisfy { $0.count == 10 }, "efSearch \(ef)")

            let threads = 4
            let answers = ConcurrentAnswers(count: queries.count)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for round in 0..<3 {
                    for i in stride(from: (t + round) % threads, to: queries.count, by: threads) {
                        let ids = (try? c.search(vector: queries[i], topK: 10, efSearch: ef).map(\.document.id)) ?? []
                        answers.record(i, ids)
                    }
                }
            }
            XCTAssertEqual(answers.mismatches(against: single), 0, "efSearch \(ef)")
        }
    }

    /// The walk ranks by half-precision copies of the vectors; the scores a
    /// search returns must still be the exact Float inner products, in
    /// order, and a document upserted with a new vector must be found by
    /// the new one (its half-precision copy follows the update).
    func testScoresAreExactAndFollowUpdates() throws {
        let d = 40  // not a multiple of 8 or 32: the kernels' tails run too
        let c = try CollectionStore(directory: temporaryDirectory(self))
            .create(name: "g", dimensions: d, modelVersion: "t", settings: CollectionSettings(indexKind: .hnsw))
        var gen = ClusteredVectors(dimensions: d, centres: 25, noise: 0.5, seed: 5)
        var stored: [String: [Float]] = [:]
        let docs = gen.take(2000).enumerated().map { (document: Document(id: "d\($0.offset)", text: ""), vector: $0.element) }
        for doc in docs { stored[doc.document.id] = doc.vector }
        try c.upsert(docs)
        func exact(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

        var largestError = 0.0
        for q in gen.take(30) {
            let hits = try c.search(vector: q, topK: 10, efSearch: 40)
            XCTAssertEqual(hits.count, 10)
            for h in hits { largestError = max(largestError, abs(Double(h.score) - exact(q, stored[h.document.id]!))) }
            XCTAssertEqual(hits.map(\.score), hits.map(\.score).sorted(by: >))
        }
        // Half precision alone would be off by about 1e-4 here.
        XCTAssertLessThan(largestError, 2e-6)

        // Move 50 documents to fresh points far from their old ones.
        var moved: [(document: Document, vector: [Float])] = []
        for i in 0..<50 {
            var v = gen.next()
            for j in 0..<d { v[j] = -v[j] }
            moved.append((document: Document(id: "d\(i * 37)", text: ""), vector: v))
        }
        try c.upsert(moved)
        for m in moved {
            let top = try c.search(vector: m.vector, topK: 1, efSearch: 40)
            XCTAssertEqual(top.first?.document.id, m.document.id)
            XCTAssertEqual(Double(top.first?.score ?? 0), 1, accuracy: 2e-6)
        }
    }
}

/// Answers recorded from several threads; a query answered twice differently counts as a mismatch.
private final class ConcurrentAnswers: @unchecked Sendable {
    private let lock = NSLock()
    private var answers: [[[String]]]

    init(count: Int) { answers = Array(repeating: [], count: count) }

    func record(_ i: Int, _ ids: [String]) {
        lock.lock()
        answers[i].append(ids)
        lock.unlock()
    }

    func mismatches(against expected: [[String]]) -> Int {
        lock.lock()
        defer { lock.unlock() }
        var bad = 0
        for (i, list) in answers.enumerated() {
            if list.isEmpty { bad += 1 }
            bad += list.filter { $0 != expected[i] }.count
        }
        return bad
    }
}
