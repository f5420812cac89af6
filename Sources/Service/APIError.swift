import Foundation
import HTTP

// MARK: - API errors

/// An error the API answers with: a status code, a stable machine-readable
/// code and a message that tells the caller how to fix the request.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    /// Extra headers, e.g. `Retry-After` on 429.
    public var headers: [(String, String)] = []

    public init(status: Int, code: String, message: String, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// The JSON error response.
    public var response: HTTPResponse {
        var r = HTTPResponse.error(status: status, code: code, message: message)
        for (name, value) in headers { r.headers.add(name: name, value: value) }
        return r
    }

    // MARK: Common errors

    /// 400: the body is not JSON at all.
    public static func malformed(_ detail: String) -> APIError {
        APIError(status: 400, code: "malformed_json", message: "request body is not valid JSON: \(detail)")
    }

    /// 422: a field is missing or has the wrong type or value.
    public static func invalidField(_ field: String, _ message: String) -> APIError {
        APIError(status: 422, code: "invalid_field", message: "field '\(field)': \(message)")
    }

    /// 415: the body is not declared as JSON.
    public static func unsupportedMediaType(_ type: String) -> APIError {
        APIError(status: 415, code: "unsupported_media_type",
                 message: "Content-Type '\(type)' is not supported; send 'Content-Type: application/json'")
    }

    /// 429: the queue is full; retry after `seconds`.
    public static func overloaded(retryAfter seconds: Int) -> APIError {
        APIError(status: 429, code: "overloaded",
                 message: "the inference queue is full; retry after \(seconds) s or send smaller batches",
                 headers: [("Retry-After", "\(seconds)")])
    }

    /// 503: not ready to serve.
    public static func notReady(_ message: String) -> APIError {
        APIError(status: 503, code: "not_ready", message: message, headers: [("Retry-After", "1")])
    }

    /// 401: a missing or wrong API key.
    public static func unauthorized(admin: Bool) -> APIError {
        APIError(status: 401, code: "unauthorized",
                 message: admin
                    ? "this endpoint needs the admin key: send 'Authorization: Bearer <admin key>'"
                    : "send a valid API key: 'Authorization: Bearer <key>'",
                 headers: [("WWW-Authenticate", "Bearer")])
    }
}
