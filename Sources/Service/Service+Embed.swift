import Engine
import Foundation
import HTTP

// MARK: - Embedding endpoints

extension RanksmithService {
    // MARK: POST /embed (TEI)

    struct TEIEmbedRequest: Decodable {
        var inputs: OneOrMany
        var normalize: Bool?
        var truncate: Bool?
        var dimensions: Int?
        var truncation_direction: String?
        var prompt_name: String?
    }

    /// Refuses the TEI options Ranksmith cannot honour, rather than ignore them.
    static func checkTEIOptions(truncationDirection: String?, promptName: String?) throws {
        if let d = truncationDirection, d.lowercased() != "right" {
            throw APIError.invalidField("truncation_direction", "Ranksmith cuts long inputs on the right only; send \"right\" or leave it out")
        }
        if promptName != nil {
            throw APIError.invalidField("prompt_name", "this model has no named prompts; leave it out and put any prefix in the text itself")
        }
    }

    /// `POST /embed`, and TEI's aliases of it: `POST /` (what
    /// huggingface_hub's InferenceClient calls) and `POST /invocations`
    /// (SageMaker).
    func embedTEI(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(TEIEmbedRequest.self, from: request)
        try Self.checkTEIOptions(truncationDirection: body.truncation_direction, promptName: body.prompt_name)
        let outcome = try await engine.embed(body.inputs.values, field: "inputs", truncate: body.truncate ?? true,
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
        let outcome = try await engine.embed(body.input.values, field: "input", truncate: true, normalize: true, dimensions: body.dimensions)
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
    func respond(_ response: HTTPResponse, _ outcome: Embeddings) -> HTTPResponse {
        var r = response
        if outcome.truncated > 0 { r.headers.add(name: "X-Truncated-Inputs", value: String(outcome.truncated)) }
        r.headers.replaceOrAdd(name: "X-Model-Version", value: outcome.handle.version)
        return r
    }
}
