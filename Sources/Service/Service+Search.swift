import Encoder
import Foundation
import HTTP
import Index
import Numerics

// MARK: - POST /search

extension RanksmithService {
    /// `rerank`: `true`, `false`, or `{"candidates": n}`.
    struct RerankOption: Decodable {
        var enabled: Bool
        var candidates: Int?
        private enum Keys: String, CodingKey { case candidates }
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) {
                enabled = b
            } else if let o = try? decoder.container(keyedBy: Keys.self) {
                enabled = true
                candidates = try o.decodeIfPresent(Int.self, forKey: .candidates)
            } else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected true, false or {\"candidates\": n}"))
            }
        }
    }

    struct SearchBody: Decodable {
        var collection: String
        var query: String?
        var vector: [Float]?
        var top_k: Int?
        var filter: JSONValue?
        var score_threshold: Float?
        var ef_search: Int?
        var exact: Bool?
        var rerank: RerankOption?
        var with_vectors: Bool?
    }

    struct SearchOut: Encodable {
        struct HitOut: Encodable {
            var id: String
            var score: Float
            var text: String
            var metadata: [String: JSONValue]
        }
        var hits: [HitOut]
        var model_version: String
        var reranked: Bool
    }

    func search(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(SearchBody.self, from: request)
        let collection = try self.collection(named: body.collection)
        let topK = body.top_k ?? 10
        guard (1...10_000).contains(topK) else { throw APIError.invalidField("top_k", "must be in 1…10000") }
        let filter: Filter?
        if let f = body.filter, f != .null {
            do { filter = try Filter(json: f, path: "filter") } catch { throw Self.apiError(.invalidFilter(error)) }
        } else {
            filter = nil
        }
        let handle = models.active
        let queryVector: [Float]
        switch (body.query, body.vector) {
        case let (q?, nil):
            let outcome = try await embeddings([q], field: "query", truncate: true, normalize: true, dimensions: nil, handle: handle)
            queryVector = outcome.vectors.row(0)
        case let (nil, v?):
            queryVector = v
        case (nil, nil):
            throw APIError.invalidField("query", "give either \"query\" (text) or \"vector\" (numbers)")
        default:
            throw APIError.invalidField("vector", "give either \"query\" or \"vector\", not both")
        }
        let rerank = body.rerank?.enabled ?? false
        let candidates = rerank ? max(topK, min(body.rerank?.candidates ?? max(4 * topK, 50), 1000)) : topK
        var hits = try indexCall {
            try collection.search(vector: queryVector, topK: candidates, filter: filter, scoreThreshold: rerank ? nil : body.score_threshold,
                                  efSearch: body.ef_search, exact: body.exact ?? false)
        }
        if rerank && !hits.isEmpty {
            guard let query = body.query else { throw APIError.invalidField("rerank", "needs a text \"query\" to re-score against") }
            let (scores, _, _) = try await rerankScores(query: query, documents: hits.map(\.document.text), field: "rerank",
                                                        raw: false, truncate: true)
            for i in hits.indices { hits[i].score = scores[i] }
            hits.sort { $0.score > $1.score }
            if let t = body.score_threshold { hits = hits.filter { $0.score >= t } }
            hits = Array(hits.prefix(topK))
        }
        let out = SearchOut(hits: hits.map { .init(id: $0.document.id, score: $0.score, text: $0.document.text, metadata: $0.document.metadata) },
                            model_version: collection.modelVersion, reranked: rerank)
        var response = HTTPResponse.json(JSONWriter.encode(out))
        response.headers.replaceOrAdd(name: "X-Model-Version", value: handle.version)
        return response
    }
}
