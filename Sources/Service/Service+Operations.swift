import Encoder
import Engine
import Foundation
import Generator
import HTTP
import Tokenization

// MARK: - Operations endpoints

extension RanksmithService {
    /// Declares every metric series (called once at start-up).
    func declareMetrics() {
        metrics.counter("ranksmith_http_requests_total", help: "HTTP requests by route, method and status.")
        metrics.histogram("ranksmith_http_request_seconds", help: "Time from a complete request to its response, by route.", buckets: MetricsRegistry.latencyBuckets)
        metrics.histogram("ranksmith_queue_seconds", help: "Time embedding work waited in the batcher queue.", buckets: MetricsRegistry.latencyBuckets)
        metrics.histogram("ranksmith_inference_seconds", help: "Time from a request's first forward pass to its last.", buckets: MetricsRegistry.latencyBuckets)
        metrics.histogram("ranksmith_batch_inputs", help: "Inputs per forward pass.", buckets: MetricsRegistry.sizeBuckets)
        metrics.histogram("ranksmith_batch_seconds", help: "Duration of one forward pass.", buckets: MetricsRegistry.latencyBuckets)
        metrics.counter("ranksmith_batch_tokens_total", help: "Tokens run through forward passes.")
        metrics.counter("ranksmith_tokens_total", help: "Tokens in embedding requests.")
        metrics.counter("ranksmith_inputs_total", help: "Texts embedded.")
        metrics.counter("ranksmith_truncated_inputs_total", help: "Inputs cut to the model's maximum length.")
        metrics.gauge("ranksmith_queue_depth", help: "Inputs waiting in the batcher queue.") { [weak batcher = engine.batcher] in Double(batcher?.queuedInputs ?? 0) }
        metrics.gauge("ranksmith_open_connections", help: "Open client connections.") { [weak self] in Double(self?.server?.connectionCount ?? 0) }
        metrics.gauge("ranksmith_unsent_response_bytes", help: "Response bytes waiting for clients to read them (bounded by --max-unsent-bytes).") { [weak self] in
            Double(self?.server?.unsentResponseBytes ?? 0)
        }
        metrics.gauge("process_resident_memory_bytes", help: "Resident memory of the process.") { Double(residentBytes()) }
        metrics.gauge("ranksmith_model_swaps", help: "Model swaps committed since start.") { [weak engine] in
            Double(engine?.models.current.generation ?? 0)
        }
        metrics.gauge("ranksmith_activation_running", help: "1 while a model activation (hot-swap) runs.") { [weak engine] in
            engine?.activationStatus?.state == .running ? 1 : 0
        }
        metrics.gauge("ranksmith_activation_progress", help: "Fraction of documents re-embedded by the running or last activation.") { [weak engine] in
            engine?.activationStatus?.progress ?? 0
        }
    }

    func readiness(_ request: HTTPRequest) -> HTTPResponse {
        guard ready else { return APIError.notReady("not ready: the model is loading or the server is draining").response }
        guard engine.collections != nil else {
            return APIError.notReady("not ready: the index failed to open: \(engine.collectionsError ?? "")").response
        }
        return .json(#"{"status":"ready"}"#)
    }

    struct InfoResponse: Encodable {
        struct Limits: Encodable {
            var max_inputs_per_request: Int
            var max_batch_tokens: Int
            var max_queued_inputs: Int
            var max_body_bytes: Int
            var max_header_bytes: Int
            var max_connections: Int
        }
        var service: String
        var model_id: String
        var model_version: String
        var dimensions: Int
        var max_input_tokens: Int
        var pooling: String
        var cross_encoder: Bool
        var threads: Int
        var uptime_seconds: Int
        var limits: Limits
        /// The default generator of refinement jobs.
        var generator: GeneratorDescription
    }

    func info(_ request: HTTPRequest) async -> HTTPResponse {
        let handle = models.active
        let c = configuration
        let body = InfoResponse(
            service: "ranksmith", model_id: handle.id, model_version: handle.version,
            dimensions: handle.model.dimensions, max_input_tokens: handle.model.maxSequenceLength,
            pooling: handle.model.pooling.rawValue, cross_encoder: handle.crossEncoder != nil,
            threads: c.threads > 0 ? c.threads : ProcessInfo.processInfo.activeProcessorCount,
            uptime_seconds: Int(Date().timeIntervalSince(started)),
            limits: .init(max_inputs_per_request: c.maxInputsPerRequest, max_batch_tokens: c.maxBatchTokens,
                          max_queued_inputs: c.maxQueuedInputs, max_body_bytes: c.http.limits.maxBodyBytes,
                          max_header_bytes: c.http.limits.maxHeaderBytes, max_connections: c.http.limits.maxConnections),
            generator: generator)
        var response = HTTPResponse.json(JSONWriter.encode(body))
        response.headers.replaceOrAdd(name: "X-Model-Version", value: handle.version)  // the version described, even mid-swap
        return response
    }

    func metricsText(_ request: HTTPRequest) async -> HTTPResponse {
        .text(metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    // MARK: POST /tokenize

    struct TokenizeRequest: Decodable {
        var inputs: OneOrMany
        var add_special_tokens: Bool?
    }


    func tokenize(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = try decodeBody(TokenizeRequest.self, from: request)
        let texts = body.inputs.values
        guard !texts.isEmpty else { throw APIError.invalidField("inputs", "must not be empty") }
        guard texts.count <= configuration.maxInputsPerRequest else {
            throw APIError.invalidField("inputs", "has \(texts.count) texts; at most \(configuration.maxInputsPerRequest) per request")
        }
        if let i = texts.firstIndex(where: \.isEmpty) {
            throw APIError.invalidField(texts.count == 1 ? "inputs" : "inputs[\(i)]", "must not be an empty string")
        }
        let handle = models.active
        let model = handle.model
        let special = body.add_special_tokens ?? true
        let tokenizer = model.tokenizer
        // Written straight into the response bytes: the answer is about 40
        // bytes per token, and an encoder's intermediate tree would cost
        // several times that in memory for a large request.
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (t, text) in texts.enumerated() {
            // ids are [CLS] pieces… [SEP], the pieces possibly truncated.
            let ids = model.encode(text).ids
            let pieces = tokenizer.tokenize(text)
            out.append(contentsOf: t == 0 ? "[".utf8 : ",[".utf8)
            var first = true
            for (k, id) in ids.enumerated() {
                let isSpecial = k == 0 || k == ids.count - 1
                if isSpecial && !special { continue }
                let piece = isSpecial ? (k == 0 ? "[CLS]" : "[SEP]") : (k - 1 < pieces.count ? pieces[k - 1] : "")
                out.append(contentsOf: first ? #"{"id":"#.utf8 : #",{"id":"#.utf8)
                first = false
                out.append(contentsOf: String(id).utf8)
                out.append(contentsOf: isSpecial ? #","special":true,"text":"#.utf8 : #","special":false,"text":"#.utf8)
                JSONString.append(piece, to: &out)
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        var response = HTTPResponse.json(out)
        response.headers.replaceOrAdd(name: "X-Model-Version", value: handle.version)  // the tokenizer used, even mid-swap
        return response
    }
}
