import Foundation
import TestSupport
import XCTest

/// Collections, documents and /search over real sockets.
final class CollectionEndpointTests: ServiceTestCase {
    override func setUpWithError() throws {
        try startService()
    }

    func upsert(_ collection: String, _ docs: [[String: Any]]) throws -> TestClient.Response {
        try client.post("/collections/\(collection)/documents", json: ["documents": docs])
    }

    func testCollectionLifecycleAndSearch() throws {
        let created = try client.request("PUT", "/collections/news")
        XCTAssertEqual(created.status, 201, created.text)
        let info = try XCTUnwrap(created.json as? [String: Any])
        XCTAssertEqual(info["dimensions"] as? Int, 384)
        XCTAssertEqual(info["metric"] as? String, "cosine")
        XCTAssertEqual(info["model_version"] as? String, "base")
        XCTAssertEqual(try client.request("PUT", "/collections/news").status, 409)

        let docs: [[String: Any]] = [
            ["id": "a", "text": "The central bank raised interest rates to fight inflation.", "metadata": ["topic": "economy", "year": 2023]],
            ["id": "b", "text": "The striker scored twice in the cup final.", "metadata": ["topic": "sport", "year": 2021]],
            ["id": "c", "text": "Stock markets fell after the rate decision.", "metadata": ["topic": "economy", "year": 2019]],
            ["id": "d", "text": "A new species of frog was found in the rainforest.", "metadata": ["topic": "science", "year": 2023]],
        ]
        let up = try upsert("news", docs)
        XCTAssertEqual(up.status, 200, up.text)
        XCTAssertEqual((up.json as? [String: Any])?["upserted"] as? Int, 4)

        let described = try XCTUnwrap(try client.request("GET", "/collections/news").json as? [String: Any])
        XCTAssertEqual(described["count"] as? Int, 4)
        let list = try XCTUnwrap((try client.request("GET", "/collections").json as? [String: Any])?["collections"] as? [[String: Any]])
        XCTAssertEqual(list.map { $0["name"] as? String }, ["news"])

        let r = try client.post("/search", json: ["collection": "news", "query": "monetary policy and interest rates", "top_k": 2])
        XCTAssertEqual(r.status, 200, r.text)
        let body = try XCTUnwrap(r.json as? [String: Any])
        let hits = try XCTUnwrap(body["hits"] as? [[String: Any]])
        XCTAssertEqual(hits.count, 2)
        XCTAssertEqual(hits.first?["id"] as? String, "a")
        XCTAssertEqual(Set(hits.compactMap { $0["id"] as? String }), ["a", "c"])
        XCTAssertEqual((hits.first?["metadata"] as? [String: Any])?["topic"] as? String, "economy")
        XCTAssertEqual(body["model_version"] as? String, "base")

        // A selective filter still returns top_k matches.
        let filtered = try client.post("/search", json: [
            "collection": "news", "query": "interest rates", "top_k": 2,
            "filter": ["must": [["key": "year", "range": ["gte": 2022]]]],
        ] as [String: Any])
        let fh = try XCTUnwrap((filtered.json as? [String: Any])?["hits"] as? [[String: Any]])
        XCTAssertEqual(Set(fh.compactMap { $0["id"] as? String }), ["a", "d"])
        let anyOf = try client.post("/search", json: [
            "collection": "news", "query": "goal", "top_k": 5,
            "filter": ["must": [["key": "topic", "match": ["any": ["sport", "science"]]]], "must_not": [["key": "year", "match": ["value": 2023]]]],
        ] as [String: Any])
        XCTAssertEqual(((anyOf.json as? [String: Any])?["hits"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["b"])

        // Search by raw vector, with a threshold.
        let vector = try XCTUnwrap(try client.request("GET", "/collections/news/documents/b?with_vector=true").json as? [String: Any])["vector"]
        let byVector = try client.post("/search", json: ["collection": "news", "vector": vector!, "top_k": 4, "score_threshold": 0.99] as [String: Any])
        XCTAssertEqual(((byVector.json as? [String: Any])?["hits"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["b"])

        // Rerank re-scores the candidates (cosine with the active model here).
        let reranked = try client.post("/search", json: ["collection": "news", "query": "football match", "top_k": 1, "rerank": true] as [String: Any])
        XCTAssertEqual(((reranked.json as? [String: Any])?["hits"] as? [[String: Any]])?.first?["id"] as? String, "b")

        // Get, delete, and the deleted id is gone.
        let got = try XCTUnwrap(try client.request("GET", "/collections/news/documents/c").json as? [String: Any])
        XCTAssertEqual(got["text"] as? String, docs[2]["text"] as? String)
        XCTAssertEqual(try client.request("DELETE", "/collections/news/documents/c").status, 200)
        XCTAssertEqual(try client.request("GET", "/collections/news/documents/c").status, 404)
        XCTAssertEqual(try client.request("DELETE", "/collections/news/documents/c").status, 404)
        XCTAssertEqual(try client.request("DELETE", "/collections/news").status, 200)
        XCTAssertEqual(try client.request("GET", "/collections/news").status, 404)
    }

    func testBadInputNamesTheField() throws {
        XCTAssertEqual(try client.request("PUT", "/collections/c1").status, 201)
        let cases: [(String, [String: Any], Int, String)] = [
            ("/search", ["collection": "nope", "query": "x"], 404, "nope"),
            ("/search", ["collection": "c1", "vector": [1, 2, 3]], 422, "dimensions"),
            ("/search", ["collection": "c1"], 422, "query"),
            ("/search", ["collection": "c1", "query": "x", "top_k": 0], 422, "top_k"),
            ("/search", ["collection": "c1", "query": "x", "filter": ["must": [["key": "a", "match": ["valu": 1]]]]], 422, "filter.must[0]"),
            ("/search", ["collection": "c1", "query": "x", "filter": ["should": "x"]], 422, "filter.should"),
            ("/collections/c1/documents", ["documents": [["id": "a", "text": "t", "metadata": [1, 2]]]], 422, "documents[0].metadata"),
            ("/collections/c1/documents", ["documents": [["id": "a", "text": "t"], ["id": "a", "text": "u"]]], 422, "documents[1].id"),
            ("/collections/c1/documents", ["documents": [["id": String(repeating: "x", count: 600), "text": "t"]]], 422, "documents[0].id"),
            ("/collections/c1/documents", ["documents": [["id": "a", "text": ""]]], 422, "documents[0].text"),
            ("/collections/c1/documents", ["documents": []], 422, "documents"),
            ("/collections/c1/documents", ["docs": []], 422, "documents"),
            ("/collections/nope/documents", ["documents": [["id": "a", "text": "t"]]], 404, "nope"),
        ]
        for (path, body, status, mention) in cases {
            let r = try client.post(path, json: body)
            XCTAssertEqual(r.status, status, "\(path) \(body): \(r.text)")
            XCTAssertTrue(r.errorMessage?.contains(mention) == true, "\(path): '\(r.errorMessage ?? "")' should mention \(mention)")
        }
        XCTAssertEqual(try client.request("PUT", "/collections/bad%20name").status, 422)
        let badSettings = try client.request("PUT", "/collections/c2", body: Data(#"{"index": "tree"}"#.utf8))
        XCTAssertEqual(badSettings.status, 422)
        XCTAssertEqual((try client.request("GET", "/collections/c1").json as? [String: Any])?["count"] as? Int, 0, "nothing was written")
    }
}
