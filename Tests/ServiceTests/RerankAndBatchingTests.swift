import Foundation
import Synchronization
import XCTest

/// Reranking, authentication, dynamic batching and back-pressure.
final class RerankAndBatchingTests: ServiceTestCase {
    func testTEIRerankOrdersByRelevance() throws {
        try startService()
        let texts = ["Cheese is made from milk.", "Paris is the capital of France.", "The Eiffel Tower is in Paris, France."]
        let r = try client.post("/rerank", json: ["query": "What is the capital of France?", "texts": texts, "return_text": true])
        XCTAssertEqual(r.status, 200, r.text)
        let hits = try XCTUnwrap(r.json as? [[String: Any]])
        XCTAssertEqual(hits.count, 3)
        XCTAssertEqual(hits.first?["index"] as? Int, 1)
        XCTAssertEqual(hits.last?["index"] as? Int, 0)
        let scores = hits.compactMap { ($0["score"] as? NSNumber)?.floatValue }
        XCTAssertEqual(scores, scores.sorted(by: >))
        XCTAssertEqual(hits.first?["text"] as? String, texts[1])
        let top1 = try client.post("/rerank", json: ["query": "capital of France", "texts": texts, "top_n": 1])
        let one = try XCTUnwrap(top1.json as? [[String: Any]])
        XCTAssertEqual(one.count, 1)
        XCTAssertNil(one[0]["text"])
        XCTAssertEqual(try client.post("/rerank", json: ["query": "", "texts": texts]).status, 422)
        XCTAssertEqual(try client.post("/rerank", json: ["query": "q", "texts": []]).status, 422)
        XCTAssertEqual(try client.post("/rerank", json: ["query": "q", "texts": texts, "top_n": 0]).status, 422)
    }

    func testCohereRerankShape() throws {
        try startService()
        let r = try client.post("/v1/rerank", json: [
            "query": "What is the capital of France?",
            "documents": ["Berlin is in Germany.", ["text": "Paris is the capital of France."]],
            "top_n": 1, "return_documents": true, "model": "x",
        ] as [String: Any])
        XCTAssertEqual(r.status, 200, r.text)
        let obj = try XCTUnwrap(r.json as? [String: Any])
        let results = try XCTUnwrap(obj["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 1)
        XCTAssertEqual(results[0]["index"] as? Int, 1)
        XCTAssertNotNil(results[0]["relevance_score"] as? NSNumber)
        XCTAssertEqual((results[0]["document"] as? [String: Any])?["text"] as? String, "Paris is the capital of France.")
        XCTAssertGreaterThan((obj["usage"] as? [String: Any])?["total_tokens"] as? Int ?? 0, 0)
        XCTAssertEqual(obj["model"] as? String, "x")
        let bad = try client.post("/v1/rerank", json: ["query": "q", "documents": [5]])
        XCTAssertEqual(bad.status, 422)
        XCTAssertTrue(bad.errorMessage?.contains("documents[0]") == true, bad.text)
    }

    func testAPIKeysProtectDataEndpointsOnly() throws {
        try startService { $0.apiKeys = ["old-key", "new-key"] }
        XCTAssertEqual(try client.post("/embed", json: ["inputs": "x"]).status, 401)
        XCTAssertEqual(try client.post("/embed", json: ["inputs": "x"], headers: ["Authorization": "Bearer wrong"]).status, 401)
        XCTAssertEqual(try client.post("/embed", json: ["inputs": "x"], headers: ["Authorization": "Bearer old-key"]).status, 200)
        XCTAssertEqual(try client.post("/embed", json: ["inputs": "x"], headers: ["Authorization": "Bearer new-key"]).status, 200)
        XCTAssertEqual(try client.request("GET", "/health").status, 200)
        XCTAssertEqual(try client.request("GET", "/ready").status, 200)
        let denied = try client.post("/rerank", json: ["query": "q", "texts": ["t"]])
        XCTAssertEqual(denied.headers["www-authenticate"], "Bearer")
    }

    func testConcurrentRequestsShareForwardPassesAndMatchSingles() throws {
        try startService()
        let texts = (0..<48).map { "Sentence number \($0) about \(["cats", "stocks", "rain", "music"][$0 % 4])." }
        let rows = LockedRows(count: texts.count)
        // One thread per request, so that all 48 are in flight at once
        // (a thread pool sized to the cores would send them two by two).
        let done = DispatchGroup()
        let client = self.client!
        for i in texts.indices {
            done.enter()
            Thread {
                let r = try? client.post("/embed", json: ["inputs": texts[i]])
                let v = self.floats((r?.json as? [Any])?.first)
                rows.set(i, v)
                done.leave()
            }.start()
        }
        done.wait()
        let results = rows.all
        let reference = try XCTUnwrap(Self.referenceModel).embed(texts).vectors
        for i in texts.indices {
            XCTAssertEqual(results[i].count, 384, "request \(i) failed")
            if results[i].count == 384 { XCTAssertGreaterThanOrEqual(cosine(results[i], reference.row(i)), 0.99999) }
        }
        // Some passes must have carried more than one request's input.
        let metrics = try client.request("GET", "/metrics").text
        let passes = metrics.split(separator: "\n").first { $0.hasPrefix("ranksmith_batch_inputs_count") }
            .flatMap { Double($0.split(separator: " ").last!) } ?? 0
        XCTAssertGreaterThan(passes, 0)
        XCTAssertLessThan(passes, Double(texts.count), "48 concurrent requests should share passes")
    }

    func testFullQueueAnswers429WithRetryAfter() throws {
        try startService { $0.maxQueuedInputs = 64; $0.maxBatchTokens = 512 }
        let big = (0..<60).map { "A fairly long input sentence number \($0) that takes some tokens to embed properly." }
        var statuses: [Int] = []
        var retryAfter: [String?] = []
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let r = try? client.post("/embed", json: ["inputs": big])
            lock.lock(); statuses.append(r?.status ?? -1); retryAfter.append(r?.headers["retry-after"]); lock.unlock()
        }
        XCTAssertTrue(statuses.contains(200), "\(statuses)")
        XCTAssertTrue(statuses.contains(429), "\(statuses)")
        XCTAssertFalse(statuses.contains(-1) || statuses.contains(500), "\(statuses)")
        for (s, r) in zip(statuses, retryAfter) where s == 429 { XCTAssertEqual(r, "1") }
    }

    func testLargeClientBatchIsSplitNotRefused() throws {
        try startService { $0.maxBatchTokens = 256 }
        let texts = (0..<300).map { "input \($0)" }
        let r = try client.post("/embed", json: ["inputs": texts])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual((r.json as? [Any])?.count, 300)
    }
}

extension RerankAndBatchingTests {
    func testLenientWhereTheSpecIsAndClearWhereItIsNot() throws {
        try startService()
        // Extra members of a document object are allowed (ids, titles…).
        let extra = try client.post("/v1/rerank", json: ["query": "q", "documents": [["text": "a", "id": 7, "extra": ["x": NSNull()]]]] as [String: Any])
        XCTAssertEqual(extra.status, 200, extra.text)
        // A number no integer can hold names the problem, not "invalid JSON".
        let huge = try client.request("POST", "/rerank", body: Data(#"{"query":"q","texts":["a"],"top_n":930141794550635452877525953282048}"#.utf8))
        XCTAssertEqual(huge.status, 422)
        XCTAssertTrue(huge.errorMessage?.contains("out of range") == true, huge.text)
        // /tokenize refuses empty strings as /embed does.
        let empty = try client.post("/tokenize", json: ["inputs": ["", "a"]])
        XCTAssertEqual(empty.status, 422)
        XCTAssertTrue(empty.errorMessage?.contains("inputs[0]") == true, empty.text)
    }
}

/// Rows written from several threads.
final class LockedRows: Sendable {
    private let rows: Mutex<[[Float]]>
    init(count: Int) { rows = Mutex([[Float]](repeating: [], count: count)) }
    func set(_ i: Int, _ row: [Float]) { rows.withLock { $0[i] = row } }
    var all: [[Float]] { rows.withLock { $0 } }
}
