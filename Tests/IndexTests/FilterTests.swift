import Foundation
import Index
import Storage
import XCTest

/// Filters: Qdrant syntax in, typed errors naming the field out, and
/// filtered search equal to brute force (filter every document, score the
/// passing ones, sort).
final class FilterTests: XCTestCase {
    private func decode(_ json: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
    }

    func testParsesQdrantSyntax() throws {
        let f = try Filter(json: decode("""
            {"must": [{"key": "lang", "match": {"value": "en"}},
                      {"key": "year", "range": {"gte": 2000, "lt": 2010}}],
             "should": [{"key": "tags", "match": {"any": ["a", "b"]}},
                        {"must_not": [{"key": "meta.flag", "match": {"value": true}}]}],
             "must_not": [{"has_id": ["x"]}]}
            """))
        XCTAssertEqual(f.must.count, 2)
        XCTAssertEqual(f.should.count, 2)
        XCTAssertEqual(f.mustNot, [.hasId(["x"])])
        XCTAssertTrue(f.matches(id: "d", metadata: ["lang": "en", "year": 2005, "tags": ["c", "b"]]))
        XCTAssertTrue(f.matches(id: "d", metadata: ["lang": "en", "year": 2005, "meta": ["flag": false]]))
        XCTAssertFalse(f.matches(id: "d", metadata: ["lang": "en", "year": 2005, "meta": ["flag": true]]))
        XCTAssertFalse(f.matches(id: "x", metadata: ["lang": "en", "year": 2005, "tags": ["a"]]))
        XCTAssertFalse(f.matches(id: "d", metadata: ["lang": "en", "year": 2010, "tags": ["a"]]))
        XCTAssertFalse(f.matches(id: "d", metadata: ["lang": "de", "year": 2005, "tags": ["a"]]))
    }

    func testErrorsNameTheField() throws {
        let cases: [(String, String)] = [
            (#"[1]"#, "filter"),
            (#"{"mustt": []}"#, "filter.mustt"),
            (#"{"must": [{"key": "a", "match": {"value": [1]}}]}"#, "filter.must[0].match.value"),
            (#"{"must": [{"key": "a", "range": {"gt": "x"}}]}"#, "filter.must[0].range.gt"),
            (#"{"should": [{}, {"key": "a"}]}"#, "filter.should[0]"),
            (#"{"must_not": [{"key": 3, "match": {"value": 1}}]}"#, "filter.must_not[0].key"),
            (#"{"must": [{"must": [{"key": "a", "match": {"anyy": [1]}}]}]}"#, "filter.must[0].must[0].match.anyy"),
            (#"{"must": [{"key": "a", "range": {"between": 3}}]}"#, "filter.must[0].range.between"),
        ]
        for (json, field) in cases {
            XCTAssertThrowsError(try Filter(json: decode(json)), json) { error in
                XCTAssertEqual((error as? FilterError)?.field, field, "\(json): \(error)")
            }
        }
    }

    func testFilteredSearchEqualsBruteForce() throws {
        var gen = ClusteredVectors(dimensions: 32, centres: 40, seed: 11)
        let n = 6000
        let base = gen.take(n)
        let langs: [JSONValue] = ["en", "de", "fr"]
        let docs = (0..<n).map { i in
            Document(id: "d\(i)", text: "", metadata: [
                "lang": langs[i % 3], "year": .number(Double(1990 + i % 37)),
                "tags": .array(i % 5 == 0 ? ["rare"] : ["common", .string("t\(i % 7)")]),
                "meta": ["rank": .number(Double(i % 101))],
            ])
        }
        let store = try CollectionStore(directory: temporaryDirectory(self))
        let flat = try store.create(name: "flat", dimensions: 32, modelVersion: "t", settings: CollectionSettings(indexKind: .flat))
        let graph = try store.create(name: "graph", dimensions: 32, modelVersion: "t", settings: CollectionSettings(indexKind: .hnsw))
        for c in [flat, graph] { try c.upsert(zip(docs, base).map { ($0, $1) }) }
        // Deleted documents must not come back through any plan.
        let deleted = (0..<n).filter { $0 % 11 == 0 }.map { "d\($0)" }
        for c in [flat, graph] { try c.delete(ids: deleted) }
        let gone = Set(deleted)

        let filters = [
            #"{"must": [{"key": "lang", "match": {"value": "de"}}]}"#,
            #"{"must": [{"key": "year", "range": {"gte": 2000, "lte": 2001}}], "must_not": [{"key": "lang", "match": {"value": "fr"}}]}"#,
            #"{"should": [{"key": "tags", "match": {"any": ["rare"]}}, {"key": "meta.rank", "range": {"lt": 3}}]}"#,
            #"{"must": [{"key": "meta.rank", "match": {"value": 42}}, {"key": "lang", "match": {"value": "en"}}]}"#,
            #"{"must": [{"key": "tags", "match": {"value": "t3"}}, {"must_not": [{"key": "year", "range": {"gt": 2000}}]}]}"#,
        ]
        let queries = gen.take(10)
        for json in filters {
            let f = try Filter(json: decode(json))
            for q in queries {
                var expected: [(String, Float)] = []
                for i in 0..<n where !gone.contains(docs[i].id) && f.matches(id: docs[i].id, metadata: docs[i].metadata) {
                    expected.append((docs[i].id, zip(base[i], q).reduce(Float(0)) { $0 + $1.0 * $1.1 }))
                }
                expected.sort { $0.1 > $1.1 }
                let want = expected.prefix(10).map(\.0)
                let got = try flat.search(vector: q, topK: 10, filter: f)
                XCTAssertEqual(got.map(\.document.id), want, json)
                let g = try graph.search(vector: q, topK: 10, filter: f)
                XCTAssertEqual(g.count, want.count, json)
                XCTAssertTrue(g.allSatisfy { !gone.contains($0.document.id) && f.matches(id: $0.document.id, metadata: $0.document.metadata) })
                if graph.plan(filter: f) == .filteredFlat {
                    XCTAssertEqual(g.map(\.document.id), want, json)
                } else {
                    XCTAssertGreaterThanOrEqual(Set(g.map(\.document.id)).intersection(want).count, 8, json)
                }
            }
        }
        // A very selective filter takes the exact path.
        let rare = try Filter(json: decode(#"{"must": [{"key": "meta.rank", "match": {"value": 42}}, {"key": "lang", "match": {"value": "en"}}]}"#))
        XCTAssertEqual(graph.plan(filter: rare), .filteredFlat)
        XCTAssertEqual(graph.plan(filter: nil), .hnsw)
    }
}
