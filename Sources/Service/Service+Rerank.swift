import Encoder
import Foundation
import HTTP
import Numerics
import Tokenization

// MARK: - Reranking endpoints

extension RanksmithService {
    /// Scores of `documents` against `query`, in document order.
    ///
    /// With a cross-encoder configured, its relevance logit (raw) or its
    /// sigmoid; otherwise the embedding model's cosine similarity, which is
    /// already in [-1, 1] and reported as is either way.
    func rerankScores(query: String, documents: [String], field: String, raw: Bool, truncate: Bool)
        async throws -> (scores: [Float], tokens: Int, handle: ModelHandle) {
        guard !query.isEmpty else { throw APIError.invalidField("query", "must not be empty") }
        guard !documents.isEmpty else { throw APIError.invalidField(field, "must not be empty; send at least one document") }
        let handle = models.active
        if let cross = handle.crossEncoder {
            guard documents.count <= configuration.maxInputsPerRequest else {
                throw APIError.invalidField(field, "has \(documents.count) documents; at most \(configuration.maxInputsPerRequest) per request")
            }
            let logits = try await batcher.exclusive { cross.crossScores(query: query, documents: documents) }
            let scores = raw ? logits : logits.map { 1 / (1 + exp(-$0)) }
            let tokens = documents.reduce(0) { $0 + cross.tokenizer.encodePair(query, $1, maxLength: cross.maxSequenceLength).ids.count }
            return (scores, tokens, handle)
        }
        let outcome = try await embeddings([query] + documents, field: field, truncate: truncate, normalize: true,
                                           dimensions: nil, handle: handle)
        let v = outcome.vectors
        let scores: [Float] = v.data.withUnsafeBufferPointer { p in
            (1..<v.rows).map { Kernels.dot(p.baseAddress!, p.baseAddress! + $0 * v.cols, v.cols) }
        }
        return (scores, outcome.tokens, handle)
    }

    /// Indices sorted by descending score (stable), cut to `topN`.
    func ranking(_ scores: [Float], topN: Int?) throws -> [Int] {
        if let n = topN, n < 1 { throw APIError.invalidField("top_n", "must be at least 1") }
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return Array(order.prefix(topN ?? order.count))
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
        let (scores, _, handle) = try await rerankScores(query: body.query, documents: body.texts, field: "texts",
                                                         raw: body.raw_scores ?? false, truncate: body.truncate ?? true)
        let hits = try ranking(scores, topN: body.top_n).map {
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
        let texts = body.documents.map(\.text)
        let (scores, tokens, handle) = try await rerankScores(query: body.query, documents: texts, field: "documents",
                                                              raw: false, truncate: true)
        let results = try ranking(scores, topN: body.top_n).map {
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
