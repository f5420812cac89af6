// MARK: - HTTPParseError
//
// Foundation-free: compiled directly into the parser fuzz target.

/// Why the parser refused a request. Each case maps to the status code the
/// server answers with (then it closes the connection, because after a
/// framing error it can no longer tell where the next request starts).
public enum HTTPParseError: Error, Equatable, Sendable {
    /// The request line is not `METHOD SP target SP HTTP/x.y` CRLF.
    case invalidRequestLine
    /// The request target is not origin-form (`/path?query`), `*` or absolute-form.
    case invalidTarget
    /// The request target exceeds `maxTargetBytes`.
    case targetTooLong
    /// A well-formed version other than HTTP/1.0 or HTTP/1.1.
    case unsupportedVersion
    /// A bare LF, or a CR not followed by LF, where CRLF is required.
    case invalidLineEnding
    /// Request line plus headers exceed `maxHeaderBytes`.
    case headersTooLarge
    /// More header fields than `maxHeaderCount`.
    case tooManyHeaders
    /// A header line without `name:` (or with space before the colon).
    case invalidHeaderName
    /// A header value with control characters.
    case invalidHeaderValue
    /// A header line starting with whitespace (obsolete line folding).
    case obsoleteLineFolding
    /// HTTP/1.1 without exactly one `Host` header.
    case invalidHost
    /// `Content-Length` is not a decimal number.
    case invalidContentLength
    /// Several `Content-Length` values that differ.
    case conflictingContentLength
    /// Both `Content-Length` and `Transfer-Encoding` (a smuggling shape).
    case contentLengthWithTransferEncoding
    /// A transfer coding other than `chunked`.
    case unsupportedTransferEncoding
    /// `Transfer-Encoding` that is empty, repeats `chunked`, or comes with HTTP/1.0.
    case invalidTransferEncoding
    /// A POST without `Content-Length` or `Transfer-Encoding` (other methods
    /// without framing have an empty body).
    case lengthRequired
    /// The body exceeds `maxBodyBytes`.
    case bodyTooLarge
    /// A chunk-size line that is not hex digits (with optional extensions) and CRLF.
    case invalidChunkSize
    /// Chunk data not followed by CRLF.
    case invalidChunkData
    /// Chunked trailers exceed `maxHeaderBytes` or are malformed.
    case invalidTrailers
    /// An `Expect` value other than `100-continue`.
    case unsupportedExpectation
    /// A field that must appear once (`Authorization`, `Content-Type`,
    /// `Content-Encoding`) appears several times: a proxy and this server
    /// might each pick a different one.
    case duplicateHeader

    /// The status code the server answers with.
    public var status: Int {
        switch self {
        case .targetTooLong: return 414
        case .unsupportedVersion: return 505
        case .headersTooLarge, .tooManyHeaders: return 431
        case .unsupportedTransferEncoding: return 501
        case .lengthRequired: return 411
        case .bodyTooLarge: return 413
        case .unsupportedExpectation: return 417
        default: return 400
        }
    }

    /// A stable machine-readable code for the JSON error body.
    public var code: String {
        switch self {
        case .targetTooLong: return "uri_too_long"
        case .unsupportedVersion: return "http_version_not_supported"
        case .headersTooLarge, .tooManyHeaders: return "headers_too_large"
        case .unsupportedTransferEncoding: return "not_implemented"
        case .lengthRequired: return "length_required"
        case .bodyTooLarge: return "payload_too_large"
        case .unsupportedExpectation: return "expectation_failed"
        default: return "bad_request"
        }
    }

    /// What was wrong and how to fix the request.
    public var message: String {
        switch self {
        case .invalidRequestLine: return "Malformed request line; send 'METHOD /path HTTP/1.1' followed by CRLF."
        case .invalidTarget: return "Malformed request target; send a path starting with '/'."
        case .targetTooLong: return "The request target is too long; move parameters into the request body."
        case .unsupportedVersion: return "Only HTTP/1.0 and HTTP/1.1 are supported."
        case .invalidLineEnding: return "Lines must end with CRLF; bare CR or LF is not allowed."
        case .headersTooLarge: return "The request headers are too large; send fewer or shorter headers."
        case .tooManyHeaders: return "Too many header fields; send fewer headers."
        case .invalidHeaderName: return "Malformed header line; use 'Name: value' with no space before the colon."
        case .invalidHeaderValue: return "A header value contains control characters; remove them."
        case .obsoleteLineFolding: return "Folded header lines (starting with whitespace) are not allowed; put each value on one line."
        case .invalidHost: return "HTTP/1.1 requests need exactly one Host header."
        case .invalidContentLength: return "Content-Length must be a non-negative decimal number."
        case .conflictingContentLength: return "Several differing Content-Length values; send exactly one."
        case .contentLengthWithTransferEncoding: return "Send either Content-Length or Transfer-Encoding, not both."
        case .unsupportedTransferEncoding: return "Only 'Transfer-Encoding: chunked' is supported; use Content-Encoding for compression."
        case .invalidTransferEncoding: return "Malformed Transfer-Encoding; send 'chunked' once, and only with HTTP/1.1."
        case .lengthRequired: return "This method needs a body length; send Content-Length (0 for an empty body) or chunked encoding."
        case .bodyTooLarge: return "The request body is too large; split it into smaller requests."
        case .invalidChunkSize: return "Malformed chunk size; each chunk starts with its size in hex followed by CRLF."
        case .invalidChunkData: return "Chunk data must be followed by CRLF; check the chunk sizes."
        case .invalidTrailers: return "Malformed or oversized chunked trailers."
        case .unsupportedExpectation: return "Only 'Expect: 100-continue' is supported; remove the Expect header."
        case .duplicateHeader: return "Authorization, Content-Type and Content-Encoding may each appear once; send one of each."
        }
    }
}
