import Engine
import Foundation
import HTTP

// MARK: - Ollama's embedding API
//
// POST /api/embed      {model, input: text or texts, truncate?, dimensions?,
//                       options?, keep_alive?}
//                   →  {model, embeddings: [[f]], total_duration,
//                       load_duration, prompt_eval_count}  (unit vectors)
// POST /api/embeddings {model, prompt, options?, keep_alive?}
//                   →  {embedding: [f]}  (not normalised, as Ollama's)
//
// As in Ollama, `model` is required and a missing or empty input answers an
// empty list (clients send one to load a model). Ranksmith serves one
// model whatever `model` names, and echoes the name; `options` and
// `keep_alive` are accepted and ignored. Errors are {"error": "..."}.

extension RanksmithService {
    struct OllamaEmbedRequest: Decodable {
        var model: String?
        var input: OneOrMany?
        var truncate: Bool?
        var dimensions: Int?
    }

    struct OllamaEmbeddingsRequest: Decodable {
        var model: String?
        var prompt: String?
    }

    static func requireOllamaModel(_ model: String?) throws -> String {
        guard let model, !model.isEmpty else {
            throw APIError.invalidField("model", "model is required: send the model name your client is configured with (Ranksmith serves its one model under any name)")
        }
        return model
    }

    func ollamaEmbed(_ request: HTTPRequest) async throws -> HTTPResponse {
        let started = DispatchTime.now().uptimeNanoseconds
        let body = try decodeBody(OllamaEmbedRequest.self, from: request)
        let model = try Self.requireOllamaModel(body.model)
        let texts = body.input?.values ?? []
        var out: [UInt8] = Array(#"{"model":"#.utf8)
        JSONString.append(model, to: &out)
        out.append(contentsOf: #","embeddings":["#.utf8)
        // Ollama answers an empty input with no embeddings.
        if texts.isEmpty || (texts == [""] && body.input?.wasArray == false) {
            out.append(contentsOf: #"]}"#.utf8)
            return .json(out)
        }
        let outcome = try await engine.embed(texts, field: "input", truncate: body.truncate ?? true,
                                             normalize: true, dimensions: body.dimensions)
        let v = outcome.vectors
        out.reserveCapacity(v.rows * v.cols * 12 + 160)
        v.data.withUnsafeBufferPointer { p in
            for r in 0..<v.rows {
                if r > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.append(UnsafeBufferPointer(rebasing: p[(r * v.cols)..<((r + 1) * v.cols)]), to: &out)
            }
        }
        let nanoseconds = DispatchTime.now().uptimeNanoseconds - started
        out.append(contentsOf: #"],"total_duration":\#(nanoseconds),"load_duration":0,"prompt_eval_count":\#(outcome.tokens)}"#.utf8)
        return respond(.json(out), outcome)
    }

    func ollamaEmbeddings(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(OllamaEmbeddingsRequest.self, from: request)
        _ = try Self.requireOllamaModel(body.model)
        guard let prompt = body.prompt, !prompt.isEmpty else { return .json(#"{"embedding":[]}"#) }
        let outcome = try await engine.embed([prompt], field: "prompt", truncate: true, normalize: false)
        var out: [UInt8] = Array(#"{"embedding":"#.utf8)
        outcome.vectors.data.withUnsafeBufferPointer { JSONWriter.append($0, to: &out) }
        out.append(UInt8(ascii: "}"))
        return respond(.json(out), outcome)
    }
}
