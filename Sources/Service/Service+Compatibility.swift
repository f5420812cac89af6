import Engine
import Foundation
import HTTP
import Tokenization

// MARK: - Routes other servers' clients call
//
// Text Embeddings Inference serves its embed route also at `POST /` and
// `POST /invocations` (SageMaker), health at `GET /` and `GET /ping`, the
// OpenAI route also without `/v1`, and `/embed_all`, `/decode` and
// `/predict`; Ollama's clients call `/api/embed` and `/api/embeddings`
// (Service+Ollama.swift). All go through `data`, so keys, readiness and
// limits apply as on every route; errors are worded in the imitated
// server's dialect (`ErrorDialect`). docs/compatibility.md lists them.

extension RanksmithService {
    func addCompatibilityRoutes(_ router: inout Router) {
        router.addImmediate("GET", "/") { [unowned self] in self.teiHealth($0) }
        router.addImmediate("GET", "/ping") { [unowned self] in self.teiHealth($0) }
        router.post("/", data { try await $0.embedTEI($1) })
        router.post("/invocations", data { try await $0.embedTEI($1) })
        router.post("/embeddings", data { try await $0.embedOpenAI($1) })
        router.post("/embed_all", data { try await $0.embedAll($1) })
        router.post("/decode", data { try await $0.decode($1) })
        router.post("/predict", data { try await $0.predict($1) })
        router.post("/api/embed", data { try await $0.ollamaEmbed($1) })
        router.post("/api/embeddings", data { try await $0.ollamaEmbeddings($1) })
    }

    // MARK: GET / and GET /ping (TEI health)

    /// 200 while embeddings can be served; else 503 in TEI's shape. Open
    /// like /health (probes carry no key).
    func teiHealth(_ request: HTTPRequest) -> HTTPResponse {
        guard ready else {
            return ErrorDialect.tei.response(APIError.notReady("unhealthy: the model is loading or the server is draining"))
        }
        return .json(#"{"status":"ok"}"#)
    }

    // MARK: POST /embed_all (TEI: token embeddings)

    struct EmbedAllRequest: Decodable {
        var inputs: OneOrMany
        var truncate: Bool?
        var truncation_direction: String?
        var prompt_name: String?
    }

    /// The encoder's last hidden state of every token of every input
    /// ([CLS] and [SEP] included), before pooling and normalisation.
    func embedAll(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(EmbedAllRequest.self, from: request)
        try Self.checkTEIOptions(truncationDirection: body.truncation_direction, promptName: body.prompt_name)
        let outcome = try await engine.tokenEmbeddings(body.inputs.values, field: "inputs", truncate: body.truncate ?? true)
        var out: [UInt8] = []
        out.reserveCapacity(outcome.tokens * (outcome.vectors.first?.cols ?? 0) * 12 + 16)
        out.append(UInt8(ascii: "["))
        for (i, m) in outcome.vectors.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "["))
            m.data.withUnsafeBufferPointer { p in
                for r in 0..<m.rows {
                    if r > 0 { out.append(UInt8(ascii: ",")) }
                    JSONWriter.append(UnsafeBufferPointer(rebasing: p[(r * m.cols)..<((r + 1) * m.cols)]), to: &out)
                }
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        var response = HTTPResponse.json(out)
        if outcome.truncated > 0 { response.headers.add(name: "X-Truncated-Inputs", value: String(outcome.truncated)) }
        response.headers.replaceOrAdd(name: "X-Model-Version", value: outcome.handle.version)
        return response
    }

    // MARK: POST /decode (TEI: ids → text)

    /// `ids`: one list of token ids, or a list of them.
    struct TokenIds: Decodable {
        var lists: [[Int64]]
        var wasBatch: Bool

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode([Int64].self) {
                lists = [one]
                wasBatch = false
            } else if let many = try? container.decode([[Int64]].self) {
                lists = many
                wasBatch = true
            } else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "expected a list of token ids or a list of such lists, e.g. [101, 7592, 102]"))
            }
        }
    }

    struct DecodeRequest: Decodable {
        var ids: TokenIds
        var skip_special_tokens: Bool?
    }

    /// Text for token ids, one string per list (always a list, as TEI answers).
    func decode(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(DecodeRequest.self, from: request)
        let lists = body.ids.lists
        let limit = configuration.maxInputsPerRequest
        guard lists.count <= limit else {
            throw EngineError.invalidInput(field: "ids", reason: "has \(lists.count) lists; at most \(limit) per request — split the batch")
        }
        let handle = models.active
        let tokenizer = handle.model.tokenizer
        var texts: [String] = []
        texts.reserveCapacity(lists.count)
        for (l, ids) in lists.enumerated() {
            do {
                texts.append(try tokenizer.decode(ids, skipSpecialTokens: body.skip_special_tokens ?? true))
            } catch let e as WordPieceTokenizer.UnknownTokenId {
                let field = body.ids.wasBatch ? "ids[\(l)][\(e.index)]" : "ids[\(e.index)]"
                throw APIError(status: 422, code: "tokenizer",
                               message: "field '\(field)': \(e.id) is not a token id of this model; ids run from 0 to \(tokenizer.vocabularySize - 1) (POST /tokenize shows a text's ids)")
            }
        }
        var response = HTTPResponse.json(JSONWriter.encode(texts))
        response.headers.replaceOrAdd(name: "X-Model-Version", value: handle.version)  // the tokenizer used, even mid-swap
        return response
    }

    // MARK: POST /predict (TEI: sequence classification)

    /// Refused as TEI refuses it for a model without a classification
    /// head: 424 `backend`. Ranksmith serves an embedding model, and an
    /// optional cross-encoder that only scores pairs through /rerank.
    func predict(_ request: HTTPRequest) async throws -> HTTPResponse {
        throw APIError(status: 424, code: "backend",
                       message: "model is not a classifier model: Ranksmith serves an embedding model, so there are no labels to predict; use POST /embed for vectors or POST /rerank to score texts against a query")
    }
}
