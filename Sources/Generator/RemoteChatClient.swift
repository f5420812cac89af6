import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// MARK: - Remote OpenAI-compatible backend
//
// For users who run a big model behind an OpenAI-compatible server (vLLM,
// llama.cpp's server, Ollama): `POST {baseURL}/chat/completions`. Only
// plain chat completions are possible there — no logits, so no
// classifier-free guidance and no logits hooks.

/// Anything that answers chat messages: the local decoder or a remote server.
public protocol ChatGenerator: Sendable {
    /// The assistant's reply to `messages`.
    func chat(_ messages: [ChatMessage], options: GenerationOptions) async throws -> Generation
}

/// Why a remote completion failed.
public enum RemoteChatError: Error, Equatable, CustomStringConvertible {
    /// The server answered with an error status (after retries where retrying made sense).
    case http(status: Int, message: String)
    /// No answer within the timeout (after retries).
    case timeout(seconds: Double)
    /// The connection failed (after retries).
    case network(String)
    /// The body was not a chat completion.
    case invalidResponse(String)
    /// The request cannot be expressed for this backend.
    case unsupported(String)

    public var description: String {
        switch self {
        case let .http(status, message): return "remote LLM server answered \(status): \(message)"
        case let .timeout(s): return "remote LLM server did not answer within \(s) s"
        case let .network(m): return "cannot reach remote LLM server: \(m)"
        case let .invalidResponse(m): return "remote LLM server sent an invalid response: \(m)"
        case let .unsupported(m): return "not supported by the remote backend: \(m)"
        }
    }
}

/// A client of an OpenAI-compatible chat-completions endpoint, with a
/// per-request timeout and retries with exponential backoff on 429, 5xx
/// and connection errors (`Retry-After` is honoured, capped by `maxBackoff`).
public struct RemoteChatClient: ChatGenerator {
    /// Base URL up to and including `/v1`, e.g. `http://127.0.0.1:8000/v1`.
    public var baseURL: URL
    /// Model name sent in each request.
    public var model: String
    /// Bearer token, if the server wants one.
    public var apiKey: String?
    /// Seconds one attempt may take.
    public var timeout: Double
    /// Attempts after the first one.
    public var retries: Int
    /// First backoff in seconds; doubled for each retry.
    public var initialBackoff: Double
    /// Longest single wait between attempts.
    public var maxBackoff: Double

    /// A client; defaults: 60 s timeout, 3 retries from 0.5 s backoff.
    public init(baseURL: URL, model: String, apiKey: String? = nil, timeout: Double = 60,
                retries: Int = 3, initialBackoff: Double = 0.5, maxBackoff: Double = 8) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.timeout = timeout
        self.retries = retries
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// The JSON body of a request (exposed for tests and logging).
    public func requestBody(_ messages: [ChatMessage], options: GenerationOptions) throws -> Data {
        guard options.guidanceScale == 1 else {
            throw RemoteChatError.unsupported("classifier-free guidance needs logits; use the local model")
        }
        var body: [String: Any] = [
            "model": model,
            "messages": messages.map { ["role": $0.role, "content": $0.content] },
            "max_tokens": options.maxTokens,
            "temperature": Double(options.sampling.temperature),
            "stream": false,
        ]
        if options.sampling.topP < 1 { body["top_p"] = Double(options.sampling.topP) }
        if options.sampling.topK > 0 { body["top_k"] = options.sampling.topK }
        if options.sampling.temperature > 0 { body["seed"] = options.sampling.seed }
        if !options.stopStrings.isEmpty { body["stop"] = options.stopStrings }
        return try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
    }

    public func chat(_ messages: [ChatMessage], options: GenerationOptions) async throws -> Generation {
        var request = URLRequest(url: baseURL.appendingPathComponent("chat/completions"))
        request.httpMethod = "POST"
        request.timeoutInterval = max(1, timeout.rounded(.up))
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        request.httpBody = try requestBody(messages, options: options)
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = max(1, timeout.rounded(.up))
        config.timeoutIntervalForResource = max(1, timeout.rounded(.up))
        let session = URLSession(configuration: config)
        defer { session.finishTasksAndInvalidate() }

        var attempt = 0
        while true {
            var failure = RemoteChatError.network("no attempt")
            var wait = min(maxBackoff, initialBackoff * pow(2, Double(attempt)))
            do {
                let (data, response) = try await Self.send(request, on: session, timeout: timeout)
                guard let http = response as? HTTPURLResponse else { throw RemoteChatError.invalidResponse("not HTTP") }
                if (200..<300).contains(http.statusCode) { return try Self.parse(data) }
                failure = .http(status: http.statusCode, message: Self.errorMessage(data))
                let retryable = http.statusCode == 429 || http.statusCode >= 500
                guard retryable else { throw failure }
                if let ra = http.value(forHTTPHeaderField: "Retry-After"), let s = Double(ra) { wait = min(maxBackoff, s) }
            } catch let e as RemoteChatError {
                throw e
            } catch let e as URLError {
                failure = e.code == .timedOut ? .timeout(seconds: timeout) : .network(e.localizedDescription)
            } catch {
                failure = .network("\(error)")
            }
            guard attempt < retries else { throw failure }
            attempt += 1
            try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        }
    }

    /// One attempt, bounded by our own clock as well as URLSession's
    /// (whose Linux implementation rounds sub-second timeouts).
    static func send(_ request: URLRequest, on session: URLSession, timeout: Double) async throws -> (Data, URLResponse) {
        try await withThrowingTaskGroup(of: (Data, URLResponse)?.self) { group in
            group.addTask { try await session.data(for: request) }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw URLError(.timedOut) }
            return result
        }
    }

    /// A chat-completion response body as a `Generation`.
    static func parse(_ data: Data) throws -> Generation {
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw RemoteChatError.invalidResponse("body is not a JSON object")
        }
        guard let choices = obj["choices"] as? [[String: Any]], let first = choices.first,
              let message = first["message"] as? [String: Any], let content = message["content"] as? String
        else { throw RemoteChatError.invalidResponse("no choices[0].message.content") }
        let reason: FinishReason
        switch first["finish_reason"] as? String {
        case "length": reason = .maxTokens
        default: reason = .endOfGeneration
        }
        let usage = obj["usage"] as? [String: Any]
        return Generation(tokens: [], text: content, finishReason: reason,
                          promptTokens: usage?["prompt_tokens"] as? Int ?? 0)
    }

    /// A short summary of an error body: the `error.message` of an
    /// OpenAI-style body, else the body's start, cut to `excerptLength`
    /// characters of letters, digits, spaces and plain punctuation (so a
    /// job's error can never repeat a remote page or inject markup). The
    /// remote server's answer is the server's own business: a summary says
    /// enough to fix a model name or a key.
    static func errorMessage(_ data: Data) -> String {
        var text = String(decoding: data.prefix(4096), as: UTF8.self)
        if let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            if let e = obj["error"] as? [String: Any], let m = e["message"] as? String { text = m }
            else if let m = obj["error"] as? String { text = m }
        }
        return excerpt(text, bodyBytes: data.count)
    }

    /// Most characters of a remote error body a message repeats.
    static let excerptLength = 64

    static func excerpt(_ text: String, bodyBytes: Int) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: " .,:;_-()'"))
        var out = ""
        var count = 0, cut = false
        var lastSpace = true
        for scalar in text.unicodeScalars {
            let keep = scalar.isASCII && allowed.contains(scalar)
            let c: Character = keep ? Character(scalar) : " "
            if c == " " && lastSpace { continue }
            if count == excerptLength { cut = true; break }
            out.append(c)
            count += 1
            lastSpace = c == " "
        }
        out = out.trimmingCharacters(in: .whitespaces)
        if out.isEmpty { return "(a body of \(bodyBytes) bytes)" }
        return cut ? out + "… (\(bodyBytes) bytes in all)" : out
    }
}

// MARK: - Local backend behind the same protocol

/// The in-process model behind `ChatGenerator`; one call at a time.
public actor LocalChatGenerator: ChatGenerator {
    private let decoder: LlamaDecoder
    private let template: ChatTemplate

    /// Wraps `model` with its chat template (or `templateOverride`).
    public init(model: LlamaModel, templateOverride: String? = nil) throws {
        decoder = LlamaDecoder(model: model)
        template = try model.chatTemplate(override: templateOverride)
    }

    public func chat(_ messages: [ChatMessage], options: GenerationOptions) async throws -> Generation {
        let ids = decoder.model.tokenizer.encode(template.render(messages), parseSpecial: true)
        return try decoder.generate(prompt: ids, options: options)
    }
}
