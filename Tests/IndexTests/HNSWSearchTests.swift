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
