import Foundation
import XCTest

/// /embed, /v1/embeddings and /tokenize over real sockets.
final class EmbedEndpointTests: ServiceTestCase {
    /// Vectors from the API vs the library called directly.
    let minimumCosine: Float = 0.99999

    override func setUpWithError() throws {
        try startService()
    }

    func testTEIEmbedMatchesLibrary() throws {
        let texts = ["A man is playing a guitar.", "A woman is slicing an onion.", "Dogs run."]
        let r = try client.post("/embed", json: ["inputs": texts])
        XCTAssertEqual(r.status, 200, r.text)
        let rows = try XCTUnwrap(r.json as? [Any])
        XCTAssertEqual(rows.count, 3)
        let reference = try XCTUnwrap(Self.referenceModel).embed(texts).vectors
        for i in 0..<3 {
            let v = floats(rows[i])
            XCTAssertEqual(v.count, 384)
            XCTAssertEqual(v.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-4)
            XCTAssertGreaterThanOrEqual(cosine(v, reference.row(i)), minimumCosine)
        }
        XCTAssertNotNil(r.headers["x-model-version"])
        XCTAssertNotNil(r.headers["x-request-id"])
        XCTAssertNil(r.headers["x-truncated-inputs"])
    }

    func testSingleStringInputAndDimensions() throws {
        let r = try client.post("/embed", json: ["inputs": "hello world", "dimensions": 64])
        XCTAssertEqual(r.status, 200, r.text)
        let v = floats((r.json as? [Any])?.first)
        XCTAssertEqual(v.count, 64)
        XCTAssertEqual(v.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-4, "renormalised after truncation")
        let raw = try client.post("/embed", json: ["inputs": "hello world", "normalize": false])
        let norm = floats((raw.json as? [Any])?.first).reduce(0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertGreaterThan(abs(norm - 1), 0.01, "unnormalised vectors keep their length")
    }

    func testOpenAIFloatAndBase64Agree() throws {
        let float = try client.post("/v1/embeddings", json: ["input": ["first text", "second"], "model": "m"])
        XCTAssertEqual(float.status, 200, float.text)
        let obj = try XCTUnwrap(float.json as? [String: Any])
        XCTAssertEqual(obj["object"] as? String, "list")
        XCTAssertEqual(obj["model"] as? String, "m")
        let data = try XCTUnwrap(obj["data"] as? [[String: Any]])
        XCTAssertEqual(data.map { $0["index"] as? Int }, [0, 1])
        let usage = try XCTUnwrap(obj["usage"] as? [String: Any])
        XCTAssertEqual(usage["prompt_tokens"] as? Int, 4 + 3)  // [CLS] first text [SEP], [CLS] second [SEP]
        let b64 = try client.post("/v1/embeddings", json: ["input": ["first text", "second"], "encoding_format": "base64"])
        let items = try XCTUnwrap((b64.json as? [String: Any])?["data"] as? [[String: Any]])
        for i in 0..<2 {
            let bytes = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(items[i]["embedding"] as? String)))
            let decoded = bytes.withUnsafeBytes { p in (0..<(bytes.count / 4)).map { Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
            XCTAssertEqual(decoded, floats(data[i]["embedding"]))
        }
    }

    func testTruncationIsReportedOrRefused() throws {
        let long = String(repeating: "token ", count: 400)
        let cut = try client.post("/embed", json: ["inputs": [long, "short"]])
        XCTAssertEqual(cut.status, 200)
        XCTAssertEqual(cut.headers["x-truncated-inputs"], "1")
        let refused = try client.post("/embed", json: ["inputs": ["short", long], "truncate": false])
        XCTAssertEqual(refused.status, 422)
        XCTAssertEqual(refused.errorCode, "input_too_long")
        XCTAssertTrue(refused.errorMessage?.contains("inputs[1]") == true, refused.text)
        let metrics = try client.request("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("ranksmith_truncated_inputs_total 1"), metrics)
    }

    func testBadRequestsGetClearErrors() throws {
        let cases: [(Data, String?, Int, String)] = [
            (Data("{not json".utf8), "application/json", 400, "malformed_json"),
            (Data(#"{"inputs": 5}"#.utf8), "application/json", 422, "invalid_field"),
            (Data(#"{"inputs": []}"#.utf8), "application/json", 422, "invalid_field"),
            (Data(#"{"inputs": ""}"#.utf8), "application/json", 422, "invalid_field"),
            (Data(#"{"input": "x"}"#.utf8), "application/json", 422, "invalid_field"),
            (Data(#"{"inputs": "x", "dimensions": 0}"#.utf8), "application/json", 422, "invalid_field"),
            (Data(#"{"inputs": "x", "normalize": "yes"}"#.utf8), "application/json", 422, "invalid_field"),
            (Data(#"[1, 2]"#.utf8), "application/json", 422, "invalid_body"),
            (Data(#"{"inputs": "x"}"#.utf8), "text/plain", 415, "unsupported_media_type"),
        ]
        for (body, type, status, code) in cases {
            let r = try client.request("POST", "/embed", body: body, contentType: type)
            XCTAssertEqual(r.status, status, "\(String(decoding: body, as: UTF8.self)): \(r.text)")
            XCTAssertEqual(r.errorCode, code, r.text)
            XCTAssertFalse(r.errorMessage?.isEmpty ?? true)
        }
        let missing = try client.post("/embed", json: ["input": "x"])
        XCTAssertTrue(missing.errorMessage?.contains("'inputs'") == true, missing.text)
        let tooMany = try client.post("/embed", json: ["inputs": Array(repeating: "x", count: 2049)])
        XCTAssertEqual(tooMany.status, 422)
        XCTAssertTrue(tooMany.errorMessage?.contains("2048") == true, tooMany.text)
        let wrongFormat = try client.post("/v1/embeddings", json: ["input": "x", "encoding_format": "int8"])
        XCTAssertEqual(wrongFormat.status, 422)
        XCTAssertTrue(wrongFormat.errorMessage?.contains("encoding_format") == true)
    }

    func testRoutingErrorsAndRequestId() throws {
        XCTAssertEqual(try client.request("GET", "/nope").status, 404)
        let wrongMethod = try client.request("GET", "/embed")
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.headers["allow"], "POST")
        let echoed = try client.request("GET", "/health", headers: ["X-Request-Id": "abc-123"])
        XCTAssertEqual(echoed.headers["x-request-id"], "abc-123")
        XCTAssertEqual(echoed.headers["x-model-version"], "base")
    }

    func testTokenize() throws {
        let r = try client.post("/tokenize", json: ["inputs": "Hello, world!"])
        XCTAssertEqual(r.status, 200, r.text)
        let tokens = try XCTUnwrap((r.json as? [[[String: Any]]])?.first)
        XCTAssertEqual(tokens.map { $0["text"] as? String }, ["[CLS]", "hello", ",", "world", "!", "[SEP]"])
        XCTAssertEqual(tokens.first?["id"] as? Int, 101)
        let plain = try client.post("/tokenize", json: ["inputs": ["Hello"], "add_special_tokens": false])
        XCTAssertEqual(((plain.json as? [[[String: Any]]])?.first)?.count, 1)
    }

    func testOperationsEndpoints() throws {
        XCTAssertEqual(try client.request("GET", "/health").status, 200)
        XCTAssertEqual(try client.request("GET", "/ready").status, 200)
        let info = try XCTUnwrap(try client.request("GET", "/info").json as? [String: Any])
        XCTAssertEqual(info["dimensions"] as? Int, 384)
        XCTAssertEqual(info["max_input_tokens"] as? Int, 256)
        XCTAssertEqual(info["model_version"] as? String, "base")
        XCTAssertNotNil(info["limits"] as? [String: Any])
        _ = try client.post("/embed", json: ["inputs": "warm"])
        let metrics = try client.request("GET", "/metrics")
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        for series in ["ranksmith_http_requests_total{route=\"/embed\",method=\"POST\",status=\"200\"}",
                       "ranksmith_queue_seconds_bucket", "ranksmith_inference_seconds_count",
                       "ranksmith_batch_inputs_bucket", "ranksmith_tokens_total", "process_resident_memory_bytes",
                       "ranksmith_queue_depth"] {
            XCTAssertTrue(metrics.text.contains(series), "missing \(series)")
        }
    }
}
