import Engine
import Foundation
import HTTP

// MARK: - Error dialects
//
// Routes that imitate another server answer errors the way that server
// does, so that its clients show the message (docs/compatibility.md):
//
//   Ranksmith  {"error": {"code": "...", "message": "..."}}   status as raised
//   TEI        {"error": "...", "error_type": "..."}         request-content
//              errors (empty input, too many texts, too long with
//              "truncate": false) are 413 "validation", as Text Embeddings
//              Inference answers them; syntax, media-type and field-type
//              errors keep 400/415/422 (what TEI's JSON extractor answers)
//   Ollama     {"error": "..."}                              bad requests
//              are 400 and a full queue 503, as Ollama answers them
//
// The same checks run on every route; only the rendering differs.

/// How a route words its errors.
enum ErrorDialect: Sendable {
    case ranksmith
    case tei
    case ollama

    /// The dialect of the route `pattern` (nil: no route matched).
    static func of(route pattern: String?) -> ErrorDialect {
        switch pattern {
        case "/", "/ping", "/invocations", "/embed_all", "/decode", "/predict": return .tei
        case "/api/embed", "/api/embeddings": return .ollama
        default: return .ranksmith
        }
    }

    /// `error`, raised by the engine, as this dialect classes it.
    func apiError(_ error: EngineError) -> APIError {
        var e = APIError(error)
        switch (self, error) {
        case (.tei, .invalidInput), (.tei, .inputTooLong):
            e.status = 413
            e.code = "validation"
        default:
            break
        }
        return e
    }

    /// The response for `error` in this dialect.
    func response(_ error: APIError) -> HTTPResponse {
        switch self {
        case .ranksmith:
            return error.response
        case .tei:
            var body: [UInt8] = Array(#"{"error":"#.utf8)
            JSONString.append(error.message, to: &body)
            body.append(contentsOf: #","error_type":"#.utf8)
            JSONString.append(Self.teiErrorType(error), to: &body)
            body.append(UInt8(ascii: "}"))
            return Self.withHeaders(.json(body, status: error.status), error)
        case .ollama:
            var body: [UInt8] = Array(#"{"error":"#.utf8)
            JSONString.append(error.message, to: &body)
            body.append(UInt8(ascii: "}"))
            let status: Int
            switch error.status {
            case 400, 413, 415, 422: status = 400
            case 429: status = 503
            default: status = error.status
            }
            return Self.withHeaders(.json(body, status: status), error)
        }
    }

    /// TEI's `error_type` for a status: its own five where one fits
    /// (`validation`, `tokenizer`, `overloaded`, `unhealthy`, `backend`),
    /// `unauthorized` for a missing key (TEI answers that with no body).
    static func teiErrorType(_ error: APIError) -> String {
        switch error.status {
        case 401: return "unauthorized"
        case 429: return "overloaded"
        case 503: return "unhealthy"
        case 424, 500...: return "backend"
        default: return error.code == "tokenizer" ? "tokenizer" : "validation"
        }
    }

    private static func withHeaders(_ response: HTTPResponse, _ error: APIError) -> HTTPResponse {
        var r = response
        for (name, value) in error.headers { r.headers.add(name: name, value: value) }
        return r
    }
}
