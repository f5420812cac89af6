import Encoder
import Foundation
import HTTP
import Numerics
import Tokenization

// MARK: - Embedding endpoints

/// Vectors for a request, with what the response headers and usage need.
struct EmbeddingOutcome {
    var vectors: Matrix
    var truncated: Int
    var tokens: Int
    var handle: ModelHandle
}

extension RanksmithService {
    /// Validates, tokenises, batches and post-processes `texts`.
    ///
    /// - `field`: the request field the texts came from, named in errors.
    /// - `dimensions`: keep the first n components (then renormalise when
    ///   `normalize`), as Matryoshka-style truncation does.
    func embeddings(_ texts: [String], field: String, truncate: Bool, normalize: Bool, dimensions: Int?,
                    handle: ModelHandle? = nil) async throws -> EmbeddingOutcome {
        let handle = handle ?? models.active
        let model = handle.model
        guard !texts.isEmpty else { throw APIError.invalidField(field, "must not be empty; send at least one text") }
        guard texts.count <= configuration.maxInputsPerRequest else {
            throw APIError.invalidField(field, "has \(texts.count) texts; at most \(configuration.maxInputsPerRequest) per request — split the batch")
        }
        if let i = texts.firstIndex(where: \.isEmpty) {
            throw APIError.invalidField(texts.count == 1 ? field : "\(field)[\(i)]", "must not be an empty string")
        }
        if let d = dimensions, d < 1 || d > model.dimensions {
            throw APIError.invalidField("dimensions", "must be between 1 and \(model.dimensions)")
        }
        let encodings = texts.map(model.encode)
        let truncated = encodings.reduce(0) { $0 + ($1.truncated ? 1 : 0) }
        if truncated > 0 && !truncate {
            let i = encodings.firstIndex(where: \.truncated)!
            throw APIError(status: 422, code: "input_too_long",
                           message: "\(texts.count == 1 ? field : "\(field)[\(i)]") is longer than the model's \(model.maxSequenceLength) tokens; shorten it or send \"truncate\": true")
        }
        let (raw, timing) = try await batcher.submit(encodings, model: model)
        metrics.observe("ranksmith_queue_seconds", timing.queueSeconds)
        metrics.observe("ranksmith_inference_seconds", timing.inferenceSeconds)
        let tokens = encodings.reduce(0) { $0 + $1.ids.count }
        metrics.increment("ranksmith_tokens_total", by: Double(tokens))
        metrics.increment("ranksmith_inputs_total", by: Double(texts.count))
        if truncated > 0 { metrics.increment("ranksmith_truncated_inputs_total", by: Double(truncated)) }
        var vectors = raw
        if let d = dimensions, d < raw.cols {
            vectors = Matrix(rows: raw.rows, cols: d)
            for r in 0..<raw.rows { for c in 0..<d { vectors[r, c] = raw[r, c] } }
        }
        if normalize {
            let cols = vectors.cols
            vectors.data.withUnsafeMutableBufferPointer { p in
                for r in 0..<vectors.rows { Kernels.l2Normalize(p.baseAddress! + r * cols, cols) }
            }
        }
        return EmbeddingOutcome(vectors: vectors, truncated: truncated, tokens: tokens, handle: handle)
    }

    // MARK: POST /embed (TEI)

    struct TEIEmbedRequest: Decodable {
        var inputs: OneOrMany
        var normalize: Bool?
        var truncate: Bool?
        var dimensions: Int?
    }

    func embedTEI(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(TEIEmbedRequest.self, from: request)
        let outcome = try await embeddings(body.inputs.values, field: "inputs", truncate: body.truncate ?? true,
                                           normalize: body.normalize ?? true, dimensions: body.dimensions)
        var out: [UInt8] = []
        out.reserveCapacity(outcome.vectors.rows * outcome.vectors.cols * 12 + 2)
        out.append(UInt8(ascii: "["))
        outcome.vectors.data.withUnsafeBufferPointer { p in
            for r in 0..<outcome.vectors.rows {
                if r > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.append(UnsafeBufferPointer(rebasing: p[(r * outcome.vectors.cols)..<((r + 1) * outcome.vectors.cols)]), to: &out)
            }
        }
        out.append(UInt8(ascii: "]"))
        return respond(.json(out), outcome)
    }

    // MARK: POST /v1/embeddings (OpenAI)

    struct OpenAIEmbedRequest: Decodable {
        var input: OneOrMany
        var model: String?
        var encoding_format: String?
        var dimensions: Int?
        var user: String?
    }

    func embedOpenAI(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(OpenAIEmbedRequest.self, from: request)
        let format = body.encoding_format ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.invalidField("encoding_format", "must be \"float\" or \"base64\"")
        }
        let outcome = try await embeddings(body.input.values, field: "input", truncate: true, normalize: true, dimensions: body.dimensions)
        let v = outcome.vectors
        var out: [UInt8] = []
        out.reserveCapacity(v.rows * v.cols * 12 + 256)
        out.append(contentsOf: #"{"object":"list","data":["#.utf8)
        v.data.withUnsafeBufferPointer { p in
            for r in 0..<v.rows {
                if r > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #"{"object":"embedding","index":\#(r),"embedding":"#.utf8)
                let row = UnsafeBufferPointer(rebasing: p[(r * v.cols)..<((r + 1) * v.cols)])
                if format == "base64" {
                    // Little-endian float32 bytes, base64 — what OpenAI clients decode.
                    var bytes = [UInt8](repeating: 0, count: row.count * 4)
                    for (i, x) in row.enumerated() {
                        let b = x.bitPattern.littleEndian
                        bytes[4 * i] = UInt8(truncatingIfNeeded: b)
                        bytes[4 * i + 1] = UInt8(truncatingIfNeeded: b >> 8)
                        bytes[4 * i + 2] = UInt8(truncatingIfNeeded: b >> 16)
                        bytes[4 * i + 3] = UInt8(truncatingIfNeeded: b >> 24)
                    }
                    out.append(UInt8(ascii: "\""))
                    out.append(contentsOf: Data(bytes).base64EncodedString().utf8)
                    out.append(UInt8(ascii: "\""))
                } else {
                    JSONWriter.append(row, to: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
        }
        out.append(contentsOf: #"],"model":"#.utf8)
        JSONString.append(body.model ?? outcome.handle.id, to: &out)
        out.append(contentsOf: #","usage":{"prompt_tokens":\#(outcome.tokens),"total_tokens":\#(outcome.tokens)}}"#.utf8)
        return respond(.json(out), outcome)
    }

    /// Adds the truncation header when inputs were cut.
    func respond(_ response: HTTPResponse, _ outcome: EmbeddingOutcome) -> HTTPResponse {
        var r = response
        if outcome.truncated > 0 { r.headers.add(name: "X-Truncated-Inputs", value: String(outcome.truncated)) }
        r.headers.replaceOrAdd(name: "X-Model-Version", value: outcome.handle.version)
        return r
    }
}
