import Foundation
import XCTest

/// The routes of Text Embeddings Inference and Ollama (docs/compatibility.md)
/// over real sockets: the library's vectors, the imitated error shapes, and
/// the same key check as every data route.
final class CompatibilityEndpointTests: ServiceTestCase {
    let minimumCosine: Float = 0.99999
    let texts = ["A man is playing a guitar.", "A woman is slicing an onion."]

    func testRootInvocationsAndOllamaGiveTheLibrarysVectors() throws {
        try startService()
        let reference = try XCTUnwrap(Self.referenceModel).embed(texts).vectors
        for (path, body, key) in [("/", ["inputs": texts], nil), ("/invocations", ["inputs": texts], nil),
                                  ("/api/embed", ["model": "any", "input": texts], "embeddings")] as [(String, [String: Any], String?)] {
            let r = try client.post(path, json: body)
            XCTAssertEqual(r.status, 200, "\(path): \(r.text)")
            XCTAssertEqual(r.header("X-Model-Version"), "base")
            let rows = try XCTUnwrap((key.map { (r.json as? [String: Any])?[$0] } ?? r.json) as? [Any], path)
            XCTAssertEqual(rows.count, 2)
            for i in 0..<2 { XCTAssertGreaterThan(cosine(floats(rows[i]), reference.row(i)), minimumCosine, path) }
        }
    }

    func testEmbedAllMeanPoolsToTheSentenceVector() throws {
        try startService()
        let r = try client.post("/embed_all", json: ["inputs": texts])
        XCTAssertEqual(r.status, 200, r.text)
        let perInput = try XCTUnwrap(r.json as? [[Any]])
        let model = try XCTUnwrap(Self.referenceModel)
        let reference = model.embed(texts).vectors
        for (i, tokens) in perInput.enumerated() {
            XCTAssertEqual(tokens.count, model.encode(texts[i]).ids.count)
            var mean = [Float](repeating: 0, count: 384)
            for t in tokens { for (c, x) in floats(t).enumerated() { mean[c] += x / Float(tokens.count) } }
            XCTAssertGreaterThan(cosine(mean, reference.row(i)), minimumCosine)
        }
    }

    func testErrorsInEachServersShape() throws {
        try startService()
        let tei = try client.post("/", json: ["inputs": [String]()])
        XCTAssertEqual(tei.status, 413)
        let teiBody = try XCTUnwrap(tei.json as? [String: String])
        XCTAssertEqual(teiBody["error_type"], "validation")
        XCTAssertEqual(teiBody["error"], "field 'inputs': must not be empty; send at least one text")
        let ollama = try client.post("/api/embed", json: ["model": "m", "input": ["ok", ""]])
        XCTAssertEqual(ollama.status, 400)
        XCTAssertEqual(ollama.json as? [String: String], ["error": "field 'input[1]': must not be an empty string"])
        let predict = try client.post("/predict", json: ["inputs": "x"])
        XCTAssertEqual(predict.status, 424)
        XCTAssertEqual((predict.json as? [String: String])?["error_type"], "backend")
    }

    func testEveryCompatibilityRouteNeedsTheKey() throws {
        try startService { $0.apiKeys = ["k"] }
        let bodies: [(String, [String: Any])] = [
            ("/", ["inputs": "x"]), ("/invocations", ["inputs": "x"]), ("/embeddings", ["input": "x"]),
            ("/embed_all", ["inputs": "x"]), ("/decode", ["ids": [101]]), ("/predict", ["inputs": "x"]),
            ("/api/embed", ["model": "m", "input": "x"]), ("/api/embeddings", ["model": "m", "prompt": "x"]),
        ]
        for (path, body) in bodies {
            XCTAssertEqual(try client.post(path, json: body).status, 401, path)
            XCTAssertEqual(try client.post(path, json: body, headers: ["Authorization": "Bearer k"]).status,
                           path == "/predict" ? 424 : 200, path)
        }
        for path in ["/", "/ping"] { XCTAssertEqual(try client.request("GET", path).status, 200, path) }
    }
}
