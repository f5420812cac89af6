// MARK: - ResponseEncoder

/// A response serialised for the wire, except for the `Connection` header
/// and the blank line, which the connection adds once it knows whether it
/// will stay open.
struct EncodedResponse: Sendable {
    /// Status line and header lines, each ending in CRLF.
    var head: [UInt8]
    /// Body bytes to send (empty for HEAD, 1xx, 204, 304).
    var body: [UInt8]
    /// Status code (for logs and metrics).
    var status: Int
    /// Whether the handler asked to close (`Connection: close`).
    var handlerAsksClose: Bool
    /// Bytes counted in the server's unsent budget for this response; the
    /// connection gives them back when it is written or dropped.
    var reservedUnsent = 0
    /// Whether the body is a stream: the head has no `Content-Length`, the
    /// connection frames the body (chunked for HTTP/1.1, close-delimited
    /// for HTTP/1.0). True for HEAD too, whose head must match GET's.
    var streamed = false
    /// The stream to pull the body from; nil when there is no body to send
    /// (HEAD, bodyless statuses: the stream was closed already).
    var stream: (any HTTPBodyStream)?
    /// Logs and reports a streamed response once it ends, with the body
    /// bytes sent (the log and metrics can't know them before).
    var streamEnded: (@Sendable (_ bytesSent: Int) -> Void)?
}

/// Turns ``HTTPResponse`` values into bytes.
enum ResponseEncoder {
    /// Serialises `response`; `headRequest` keeps `Content-Length` but drops the body.
    static func encode(_ response: HTTPResponse, requestId: String, headRequest: Bool) -> EncodedResponse {
        let status = (100...999).contains(response.status) ? response.status : 500
        var head: [UInt8] = []
        head.reserveCapacity(160 + response.headers.count * 40)
        head.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(status, to: &head)
        head.append(ASCII.space)
        head.append(contentsOf: HTTPResponse.reasonPhrase(status).utf8)
        head.append(contentsOf: "\r\n".utf8)
        var asksClose = false
        for field in response.headers {
            // Framing is ours; a handler's Connection is read, not copied.
            if HTTPHeaders.equalCaseInsensitive(field.name, "content-length")
                || HTTPHeaders.equalCaseInsensitive(field.name, "transfer-encoding")
                || HTTPHeaders.equalCaseInsensitive(field.name, "x-request-id")
                || HTTPHeaders.equalCaseInsensitive(field.name, "date") {
                continue
            }
            if HTTPHeaders.equalCaseInsensitive(field.name, "connection") {
                if field.value.lowercased().contains("close") { asksClose = true }
                continue
            }
            // Refuse header injection: names must be tokens, values single-line.
            guard !field.name.isEmpty, field.name.utf8.allSatisfy(ASCII.isTokenChar),
                  field.value.utf8.allSatisfy(ASCII.isFieldValueChar) else { continue }
            head.append(contentsOf: field.name.utf8)
            head.append(contentsOf: ": ".utf8)
            head.append(contentsOf: field.value.utf8)
            head.append(contentsOf: "\r\n".utf8)
        }
        head.append(contentsOf: HTTPDate.headerLine())
        head.append(contentsOf: "X-Request-Id: ".utf8)
        head.append(contentsOf: requestId.utf8)
        head.append(contentsOf: "\r\n".utf8)
        let bodyless = status < 200 || status == 204 || status == 304
        let streamed = response.stream != nil && !bodyless
        if !bodyless && !streamed {
            head.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(response.body.count, to: &head)
            head.append(contentsOf: "\r\n".utf8)
        }
        let body = (bodyless || headRequest || streamed) ? [] : response.body
        var encoded = EncodedResponse(head: head, body: body, status: status, handlerAsksClose: asksClose)
        encoded.streamed = streamed
        encoded.stream = streamed && !headRequest ? response.stream : nil
        return encoded
    }

    // MARK: - Chunked framing (RFC 9112 §7.1)

    /// The chunk that ends a chunked body (no trailers).
    static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// Appends `piece` (not empty: an empty chunk would end the body) as one
    /// chunk: its size in hex, CRLF, the bytes, CRLF.
    static func appendChunk(_ piece: [UInt8], to out: inout [UInt8]) {
        precondition(!piece.isEmpty, "an empty chunk ends the body")
        let digits = Array(String(piece.count, radix: 16).utf8)
        out.reserveCapacity(out.count + digits.count + piece.count + 4)
        out.append(contentsOf: digits)
        out.append(contentsOf: "\r\n".utf8)
        out.append(contentsOf: piece)
        out.append(contentsOf: "\r\n".utf8)
    }

    /// Appends the decimal digits of a non-negative `value`.
    @inline(__always)
    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 10 {
            out.append(UInt8(truncatingIfNeeded: value) + 0x30)
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { raw in
            while rest > 0 {
                raw[count] = UInt8(truncatingIfNeeded: rest % 10) + 0x30
                rest /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { out.append(raw[index]) }
        }
    }
}
