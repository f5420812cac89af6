import Engine
import Foundation
import HTTP
import Index

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

// MARK: - Engine errors

extension APIError {
    /// The status, code and message for an engine error.
    init(_ error: EngineError) {
        switch error {
        case .invalidInput(let field, let reason):
            self = .invalidField(field, reason)
        case .inputTooLong(let field, let maxTokens):
            self = APIError(status: 422, code: "input_too_long",
                            message: "\(field) is longer than the model's \(maxTokens) tokens; shorten it or send \"truncate\": true")
        case .overloaded:
            self = .overloaded(retryAfter: 1)
        case .stopped:
            self = .notReady("the service is shutting down")
        case .indexUnavailable(let reason):
            self = .notReady("the index could not be opened at start-up: \(reason); check the data directory and restart")
        case .index(let e):
            self = APIError(e)
        case .unknownDocument(let id):
            self = APIError(status: 404, code: "unknown_document", message: "no document with id '\(id)' in this collection")
        case .modelVersionMismatch(let collection, let collectionVersion, let activeVersion):
            self = APIError(status: 409, code: "model_version_mismatch",
                            message: "collection '\(collection)' holds vectors of model version \(collectionVersion), the active model is \(activeVersion); wait for the re-embedding to finish")
        case .unknownModelVersion(let version):
            self = APIError(status: 404, code: "unknown_model_version",
                            message: "no model version '\(version)'; GET /models lists them")
        case .modelVersionUnusable:
            self = APIError(status: 422, code: "model_version_unusable", message: error.description)
        case .activationInProgress(let version):
            self = APIError(status: 409, code: "activation_in_progress",
                            message: "an activation of version '\(version)' is running; activations run one at a time: follow it at GET /models/activation and retry when it has finished",
                            headers: [("Location", "/models/activation")])
        case .modelVersionInUse:
            self = APIError(status: 409, code: "model_version_in_use", message: error.description)
        case .insufficientMemory:
            self = APIError(status: 409, code: "insufficient_memory",
                            message: error.description + "; raise --max-memory, delete collections, or swap on an instance with more memory")
        case .activationFailed:
            self = APIError(status: 500, code: "activation_failed", message: error.description)
        }
    }

    /// The status, code and message for an Index error.
    init(_ error: IndexError) {
        switch error {
        case .unknownCollection:
            self = APIError(status: 404, code: "unknown_collection", message: error.message + "; create it with PUT /collections/{name}")
        case .collectionExists:
            self = APIError(status: 409, code: "collection_exists", message: error.message)
        case .invalidName, .wrongDimensions, .invalidVector, .duplicateIds, .invalidId, .invalidMetadata,
             .invalidParameter, .invalidSettings:
            self = APIError(status: 422, code: "invalid_field", message: error.message)
        case .invalidFilter(let f):
            self = APIError(status: 422, code: "invalid_filter", message: "\(f.field): \(f.reason)")
        case .diskFull:
            self = APIError(status: 507, code: "insufficient_storage", message: error.message)
        case .ioFailed, .unavailable:
            self = APIError(status: 503, code: "storage_unavailable", message: error.message, headers: [("Retry-After", "5")])
        case .corruptSnapshot, .corruptLog:
            self = APIError(status: 500, code: "corrupt_index", message: error.message)
        }
    }
}
