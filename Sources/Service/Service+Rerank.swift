import Engine
import Foundation
import HTTP

// MARK: - Reranking endpoints

extension RanksmithService {
    /// Refuses a bad `top_n` before any model work (scoring many documents
    /// only to refuse the request would let one client waste the model).
    static func checkTopN(_ topN: Int?) throws {
        if let n = topN, n < 1 {
            throw APIError.invalidField("top_n", "must be at least 1; leave it out to get every document")
        }
    }

    // MARK: POST /rerank (TEI)

    struct TEIRerankRequest: Decodable {
        var query: String
        var texts: [String]
        var top_n: Int?
        var return_text: Bool?
        var raw_scores: Bool?
        var truncate: Bool?
    }

    struct TEIRerankHit: Encodable {
        var index: Int
        var score: Float
        var text: String?
    }

    func rerankTEI(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(TEIRerankRequest.self, from: request)
        try Self.checkTopN(body.top_n)
        let ranked = try await engine.rerankScores(
            query: body.query, documents: body.texts, field: "texts", raw: body.raw_scores ?? false,
            truncate: body.truncate ?? true)
        let (scores, handle) = (ranked.scores, ranked.handle)
        let hits = try InferenceEngine.ranking(scores, topN: body.top_n).map {
            TEIRerankHit(index: $0, score: scores[$0], text: body.return_text == true ? body.texts[$0] : nil)
        }
        var response = HTTPResponse.json(JSONWriter.encode(hits))
        response.headers.replaceOrAdd(name: "X-Model-Version", value: handle.version)
        return response
    }

    // MARK: POST /v1/rerank (Cohere / Jina)

    /// A document: a plain string or `{"text": "…"}`.
    struct RerankDocument: Decodable {
        var text: String
        private enum Keys: String, CodingKey { case text }
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let s = try? container.decode(String.self) {
                text = s
            } else if let object = try? decoder.container(keyedBy: Keys.self), let t = try? object.decode(String.self, forKey: .text) {
                // Other members (ids, titles, …) are allowed and ignored.
                text = t
            } else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected a string or an object with a \"text\" string"))
            }
        }
    }

    struct CohereRerankRequest: Decodable {
        var model: String?
        var query: String
        var documents: [RerankDocument]
        var top_n: Int?
        var return_documents: Bool?
    }

    struct CohereRerankResponse: Encodable {
        struct Result: Encodable {
            struct Document: Encodable { var text: String }
            var index: Int
            var relevance_score: Float
            var document: Document?
        }
        struct Usage: Encodable { var total_tokens: Int }
        var id: String
        var model: String
        var results: [Result]
        var usage: Usage
    }

    func rerankCohere(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(CohereRerankRequest.self, from: request)
        try Self.checkTopN(body.top_n)
        let texts = body.documents.map(\.text)
        let ranked = try await engine.rerankScores(query: body.query, documents: texts, field: "documents",
                                                   raw: false, truncate: true)
        let (scores, tokens, handle) = (ranked.scores, ranked.tokens, ranked.handle)
        let results = try InferenceEngine.ranking(scores, topN: body.top_n).map {
            CohereRerankResponse.Result(index: $0, relevance_score: scores[$0],
                                        document: body.return_documents == true ? .init(text: texts[$0]) : nil)
        }
        let response = CohereRerankResponse(id: request.requestId, model: body.model ?? handle.id, results: results,
                                             usage: .init(total_tokens: tokens))
        var r = HTTPResponse.json(JSONWriter.encode(response))
        r.headers.replaceOrAdd(name: "X-Model-Version", value: handle.version)
        return r
    }
}
