// MARK: - HTTPResponse

/// A response from a handler. The server adds the framing
/// (`Content-Length`, or `Transfer-Encoding: chunked` for a ``stream``),
/// `Date`, `Connection`, `X-Request-Id` and, when the client accepts it and
/// a whole body is large enough, gzip `Content-Encoding`.
public struct HTTPResponse: Sendable {
    /// Status code, e.g. 200.
    public var status: Int
    /// Header fields. Don't set `Content-Length` or `Transfer-Encoding`:
    /// the server frames the body itself.
    public var headers: HTTPHeaders
    /// The body bytes (dropped on the wire for HEAD, 1xx, 204 and 304).
    public var body: [UInt8]
    /// A body produced in pieces instead of ``body`` (which is then
    /// ignored): sent chunked to HTTP/1.1 clients, close-delimited to
    /// HTTP/1.0 ones, never compressed. The server closes it when done.
    public var stream: (any HTTPBodyStream)?

    /// A response with the given parts.
    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response whose body is `stream`, pulled piece by piece as the
    /// client reads (see ``HTTPBodyStream``).
    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), stream: any HTTPBodyStream) {
        self.status = status
        self.headers = headers
        self.body = []
        self.stream = stream
    }

    // MARK: - Builders

    /// A JSON response from already-encoded UTF-8 bytes.
    public static func json(_ body: [UInt8], status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: body)
    }

    /// A JSON response from an already-encoded string.
    public static func json(_ body: String, status: Int = 200) -> HTTPResponse {
        json(Array(body.utf8), status: status)
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ body: String, status: Int = 200, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: Array(body.utf8))
    }

    /// A response without a body.
    public static func empty(status: Int = 204) -> HTTPResponse {
        HTTPResponse(status: status)
    }

    /// The project's error shape, `{"error": {"code": "…", "message": "…"}}`.
    ///
    /// - Parameters:
    ///   - status: the status code, e.g. 422.
    ///   - code: a stable machine-readable code, e.g. `"invalid_field"`.
    ///   - message: what went wrong and how to fix the request.
    public static func error(status: Int, code: String, message: String) -> HTTPResponse {
        json(errorBody(code: code, message: message), status: status)
    }

    /// The JSON bytes of the project's error shape (see ``error(status:code:message:)``).
    public static func errorBody(code: String, message: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(40 + code.utf8.count + message.utf8.count)
        out.append(contentsOf: #"{"error":{"code":"#.utf8)
        JSONString.append(code, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONString.append(message, to: &out)
        out.append(contentsOf: "}}".utf8)
        return out
    }

    // MARK: - Status text

    /// The standard reason phrase for `status`, or `"Unknown"`.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 424: return "Failed Dependency"
        case 425: return "Too Early"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 499: return "Client Closed Request"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Unknown"
        }
    }
}

// MARK: - JSON string escaping

/// Minimal JSON string writer (RFC 8259 escapes), used for error bodies and
/// access-log lines without Foundation.
public enum JSONString {
    /// Appends `value` as a quoted, escaped JSON string to `out`.
    public static func append(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
            case 0x0A: out.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `value` as a quoted, escaped JSON string.
    public static func quoted(_ value: String) -> String {
        var out: [UInt8] = []
        append(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
