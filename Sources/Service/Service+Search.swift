import Engine
import Foundation
import HTTP
import Index
import Storage

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
        var search = SearchRequest(collection: body.collection)
        search.query = body.query
        search.vector = body.vector
        search.topK = body.top_k ?? 10
        search.filter = body.filter
        search.scoreThreshold = body.score_threshold
        search.efSearch = body.ef_search
        search.exact = body.exact ?? false
        search.rerank = body.rerank?.enabled ?? false
        search.rerankCandidates = body.rerank?.candidates
        let result = try await engine.search(search)
        let out = SearchOut(hits: result.hits.map { .init(id: $0.document.id, score: $0.score, text: $0.document.text, metadata: $0.document.metadata) },
                            model_version: result.collectionModelVersion, reranked: result.reranked)
        var response = HTTPResponse.json(JSONWriter.encode(out))
        response.headers.replaceOrAdd(name: "X-Model-Version", value: result.handle.version)
        return response
    }
}
