import Foundation
import Index
import XCTest

/// HNSW against the flat index as the oracle (hnswlib's habit): recall@10
/// on clustered vectors, and the same answers after snapshot and reload.
///
/// The vectors come from `RANKSMITH_INDEX_VECTORS` (a `.npy` float32
/// matrix, e.g. real sentence embeddings; the last 200 rows become the
/// queries) when set, else from a Gaussian mixture of 1,000 centres with
/// the benchmark's noise level (there hnswlib needs efSearch ≈ 32 for 0.95).
final class HNSWRecallTests: XCTestCase {
    func testRecallAgainstFlatAndAfterReload() throws {
        let (base, queries) = try vectors()
        let dims = base[0].count
        let dir = temporaryDirectory(self)
        var store: CollectionStore? = try CollectionStore(directory: dir)
        let settings = CollectionSettings(indexKind: .hnsw, hnsw: HNSWParameters(m: 16, efConstruction: 200, efSearch: 64))
        let c = try store!.create(name: "recall", dimensions: dims, modelVersion: "test", settings: settings)
        let docs = base.enumerated().map { (Document(id: "d\($0.offset)", text: "", metadata: [:]), $0.element) }
        var i = 0
        while i < docs.count {
            try c.upsert(Array(docs[i..<min(docs.count, i + 5000)]))
            i += 5000
        }
        XCTAssertEqual(c.info.indexKind, .hnsw)
        XCTAssertEqual(c.count, base.count)

        let exact = try c.search(vectors: queries, topK: 10, exact: true)
        let approx = try queries.map { try c.search(vector: $0, topK: 10) }
        let r = recall(approx, exact, k: 10)
        print("HNSW recall@10 = \(r) over \(queries.count) queries, \(base.count) × \(dims)")
        XCTAssertGreaterThanOrEqual(r, 0.95)

        try c.snapshot()
        store = nil
        let reopened = try CollectionStore(directory: dir).collection("recall")
        XCTAssertEqual(reopened.info.indexKind, .hnsw)
        let again = try queries.map { try reopened.search(vector: $0, topK: 10) }
        XCTAssertEqual(again.map { $0.map(\.document.id) }, approx.map { $0.map(\.document.id) })
        XCTAssertEqual(recall(again, exact, k: 10), r)
    }

    /// The base vectors and the queries.
    private func vectors() throws -> ([[Float]], [[Float]]) {
        if let path = ProcessInfo.processInfo.environment["RANKSMITH_INDEX_VECTORS"] {
            let (rows, dims, data) = try VectorFile.read(path: path)
            XCTAssertGreaterThan(rows, 400)
            let all = (0..<rows).map { Array(data[($0 * dims)..<(($0 + 1) * dims)]) }
            return (Array(all.dropLast(200)), Array(all.suffix(200)))
        }
        var gen = ClusteredVectors(dimensions: 384, centres: 1000, noise: 1.0)
        return (gen.take(20_000), gen.take(200))
    }
}
