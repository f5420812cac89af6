import Foundation
import Index
import XCTest

/// The flat index: exact by construction, so it is checked against a
/// sort of every score; single queries equal the same queries in a batch.
final class FlatSearchTests: XCTestCase {
    func testTopKEqualsFullSortAndBatchEqualsSingle() throws {
        var gen = ClusteredVectors(dimensions: 64, centres: 50, seed: 3)
        let base = gen.take(3001)
        let c = try CollectionStore(directory: temporaryDirectory(self))
            .create(name: "flat", dimensions: 64, modelVersion: "t", settings: CollectionSettings(indexKind: .flat))
        try c.upsert(base.enumerated().map { (Document(id: "\($0.offset)", text: "t\($0.offset)"), $0.element) })
        let queries = gen.take(20)
        let batch = try c.search(vectors: queries, topK: 7)
        for (qi, q) in queries.enumerated() {
            let single = try c.search(vector: q, topK: 7)
            var all = base.enumerated().map { (id: "\($0.offset)", s: zip($0.element, q).reduce(Float(0)) { $0 + $1.0 * $1.1 }) }
            all.sort { $0.s > $1.s }
            XCTAssertEqual(single.map(\.document.id), all.prefix(7).map(\.id))
            for (h, e) in zip(single, all) { XCTAssertEqual(h.score, e.s, accuracy: 1e-4) }
            XCTAssertEqual(batch[qi].map(\.document.id), single.map(\.document.id))
            for (a, b) in zip(batch[qi], single) { XCTAssertEqual(a.score, b.score, accuracy: 1e-4) }
        }
    }

    func testScoreThresholdAndTextRoundTrip() throws {
        let c = try CollectionStore(directory: temporaryDirectory(self))
            .create(name: "t", dimensions: 3, modelVersion: "t")
        try c.upsert([
            (Document(id: "a", text: "alpha", metadata: ["n": 1]), [1, 0, 0]),
            (Document(id: "b", text: "beta"), [0, 1, 0]),
            (Document(id: "c", text: "gamma"), [1, 1, 0]),
        ])
        let hits = try c.search(vector: [2, 0, 0], topK: 3, scoreThreshold: 0.5)
        XCTAssertEqual(hits.map(\.document.id), ["a", "c"])
        XCTAssertEqual(hits[0].score, 1, accuracy: 1e-6)
        XCTAssertEqual(hits[0].document, Document(id: "a", text: "alpha", metadata: ["n": 1]))
        XCTAssertEqual(c.get(id: "c")?.vector[0] ?? 0, Float(0.5).squareRoot(), accuracy: 1e-6)
        XCTAssertNil(c.get(id: "zzz"))
    }

    func testBadInputIsTypedAndNamesTheField() throws {
        let store = try CollectionStore(directory: temporaryDirectory(self))
        let c = try store.create(name: "x", dimensions: 4, modelVersion: "t")
        XCTAssertThrowsError(try c.upsert([(Document(id: "a", text: ""), [1, 2, 3])])) {
            XCTAssertEqual($0 as? IndexError, .wrongDimensions(expected: 4, got: 3, field: "documents[0].vector"))
        }
        XCTAssertThrowsError(try c.upsert([(Document(id: "a", text: ""), [1, 0, 0, 0]), (Document(id: "a", text: ""), [1, 0, 0, 0])])) {
            XCTAssertEqual($0 as? IndexError, .duplicateIds(["a"]))
        }
        XCTAssertThrowsError(try c.upsert([(Document(id: String(repeating: "x", count: 513), text: ""), [1, 0, 0, 0])])) {
            guard case .invalidId(let f, _)? = $0 as? IndexError else { return XCTFail("\($0)") }
            XCTAssertEqual(f, "documents[0].id")
        }
        XCTAssertThrowsError(try c.upsert([(Document(id: "z", text: ""), [0, 0, 0, 0])])) {
            guard case .invalidVector(let f, _)? = $0 as? IndexError else { return XCTFail("\($0)") }
            XCTAssertEqual(f, "documents[0].vector")
        }
        XCTAssertThrowsError(try Document(id: "m", text: "", metadataJSON: [1, 2], field: "documents[3].metadata")) {
            guard case .invalidMetadata(let f, _)? = $0 as? IndexError else { return XCTFail("\($0)") }
            XCTAssertEqual(f, "documents[3].metadata")
        }
        XCTAssertThrowsError(try c.search(vector: [1, 0, 0, 0], topK: 0)) {
            guard case .invalidParameter(let f, _)? = $0 as? IndexError else { return XCTFail("\($0)") }
            XCTAssertEqual(f, "top_k")
        }
        XCTAssertThrowsError(try store.collection("nope")) { XCTAssertEqual($0 as? IndexError, .unknownCollection("nope")) }
        XCTAssertThrowsError(try store.create(name: "x", dimensions: 4, modelVersion: "t")) {
            XCTAssertEqual($0 as? IndexError, .collectionExists("x"))
        }
        XCTAssertThrowsError(try store.create(name: "bad/name", dimensions: 4, modelVersion: "t")) {
            XCTAssertEqual($0 as? IndexError, .invalidName("bad/name"))
        }
        XCTAssertEqual(c.count, 0)
    }

    func testCollectionsListDescribeDrop() throws {
        let dir = temporaryDirectory(self)
        let store = try CollectionStore(directory: dir)
        try store.create(name: "b", dimensions: 2, modelVersion: "v1")
        let a = try store.create(name: "a", dimensions: 3, modelVersion: "v2", settings: CollectionSettings(indexKind: .hnsw))
        try a.upsert([(Document(id: "1", text: "one"), [1, 2, 3])])
        XCTAssertEqual(store.list().map(\.name), ["a", "b"])
        let info = try store.info(name: "a")
        XCTAssertEqual(info.count, 1)
        XCTAssertEqual(info.indexKind, .hnsw)
        XCTAssertEqual(info.modelVersion, "v2")
        XCTAssertEqual(info.metric, "cosine")
        try store.drop(name: "a")
        XCTAssertThrowsError(try a.upsert([(Document(id: "2", text: ""), [1, 2, 3])]))
        XCTAssertEqual(store.list().map(\.name), ["b"])
        XCTAssertEqual(try CollectionStore(directory: dir).list().map(\.name), ["b"])
    }
}

/// The hot-swap step: a shadow collection (re-embedded with a new model)
/// takes the place of the live one, in memory and on disk.
final class ReplaceTests: XCTestCase {
    func testShadowReplacesLiveCollectionAndSurvivesRestart() throws {
        let dir = temporaryDirectory(self)
        let store = try CollectionStore(directory: dir)
        let live = try store.create(name: "docs", dimensions: 3, modelVersion: "v1")
        try live.upsert([(Document(id: "a", text: "alpha"), [1, 0, 0])])
        let shadow = try store.create(name: "docs-v2", dimensions: 4, modelVersion: "v2")
        for (d, _) in live.allDocuments() { try shadow.upsert([(d, [0, 1, 0, 0])]) }
        let swapped = try store.replace("docs", with: "docs-v2")
        XCTAssertEqual(swapped.info.modelVersion, "v2")
        XCTAssertEqual(swapped.info.dimensions, 4)
        XCTAssertEqual(store.list().map(\.name), ["docs"])
        XCTAssertEqual(live.get(id: "a")?.document.text, "alpha")  // in-flight readers still answer
        XCTAssertThrowsError(try live.upsert([(Document(id: "b", text: ""), [1, 0, 0])]))
        try swapped.upsert([(Document(id: "b", text: "beta"), [0, 0, 1, 0])])
        let reopened = try CollectionStore(directory: dir)
        XCTAssertEqual(reopened.list().map(\.name), ["docs"])
        let c = try reopened.collection("docs")
        XCTAssertEqual(c.info.modelVersion, "v2")
        XCTAssertEqual(Set(c.allDocuments().map(\.document.id)), ["a", "b"])
    }
}
