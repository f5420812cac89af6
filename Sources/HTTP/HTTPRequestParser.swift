// MARK: - HTTPRequestParser
//
// Foundation-free and I/O-free: the fuzz target compiles this file (with
// HTTPRequestParser+Body.swift, HTTPParseError.swift, HTTPHeaders.swift
// and HTTPRequest.swift) directly.
//
// Wire format handled (RFC 9112):
//   request   = *( CRLF ) request-line *( field-line CRLF ) CRLF [ body ]
//   request-line = method SP request-target SP "HTTP/" DIGIT "." DIGIT CRLF
//   field-line   = field-name ":" OWS field-value OWS
// Only CRLF ends a line; a bare CR or LF anywhere in the head is refused.

/// A request the parser accepted, before content decoding and routing.
public struct HTTPParsedRequest: Sendable {
    /// Method token, e.g. `GET`.
    public var method: String
    /// Request target (origin-form; absolute-form is reduced to its path).
    public var target: String
    /// Protocol version.
    public var version: HTTPVersion
    /// Header fields in order.
    public var headers: HTTPHeaders
    /// Body with chunked framing removed.
    public var body: [UInt8]
    /// Whether the connection may stay open after the response.
    public var keepAlive: Bool
    /// Whether the client sent `Expect: 100-continue`.
    public var expectsContinue: Bool
}

/// The parser's answer for the bytes it was given.
public enum HTTPParseResult: Sendable {
    /// A whole request; `consumed` bytes of the input belong to it.
    case complete(HTTPParsedRequest, consumed: Int)
    /// More bytes are needed.
    case incomplete
    /// The bytes are not an acceptable request; answer `error.status` and close.
    case invalid(HTTPParseError)
}

/// An incremental HTTP/1.1 request parser with fixed limits and no I/O.
///
/// Call ``parse(_:)`` with the buffered bytes of the current request (from
/// its first byte); when it answers ``HTTPParseResult/incomplete``, call it
/// again with the same bytes plus whatever arrived since. It remembers how
/// far it got, so re-feeding a growing buffer costs only the new bytes.
/// After ``HTTPParseResult/complete(_:consumed:)`` it is ready for the next
/// request (drop `consumed` bytes first). After ``HTTPParseResult/invalid(_:)``
/// it keeps answering the same error.
public struct HTTPRequestParser: Sendable {
    /// Limits the parser enforces.
    public struct Limits: Sendable {
        /// Request line plus headers, bytes (431 beyond).
        public var maxHeaderBytes: Int
        /// Request target, bytes (414 beyond).
        public var maxTargetBytes: Int
        /// Header fields (431 beyond).
        public var maxHeaderCount: Int
        /// Decoded body bytes (413 beyond).
        public var maxBodyBytes: Int

        /// Limits with the server's defaults unless given.
        public init(maxHeaderBytes: Int = 16 * 1024, maxTargetBytes: Int = 8 * 1024,
                    maxHeaderCount: Int = 100, maxBodyBytes: Int = 8 * 1024 * 1024) {
            self.maxHeaderBytes = maxHeaderBytes
            self.maxTargetBytes = maxTargetBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// How the body's end is found.
    enum Framing: Sendable, Equatable {
        case none
        case length(Int)
        case chunked
    }

    /// Where chunked decoding stands.
    enum ChunkPhase: Sendable, Equatable {
        case size
        case data(remaining: Int)
        case dataEnd
        case trailers
    }

    /// The head once parsed, while the body is still arriving.
    struct Head: Sendable {
        var request: HTTPParsedRequest
        var framing: Framing
    }

    /// The limits in force.
    public let limits: Limits

    // MARK: - Progress (reset per request)

    /// Offset of the request line (after any leading empty lines).
    var headStart = 0
    /// Bytes already checked for line endings.
    var scanned = 0
    /// Offset just after the first line's CRLF, once seen.
    var firstLineEnd = -1
    /// The parsed head; nil until the blank line arrives.
    var head: Head?
    /// Offset of the first body byte.
    var bodyStart = 0
    /// Chunked decoding: next byte to decode, phase, decoded bytes, trailer bytes.
    var chunkCursor = 0
    var chunkPhase = ChunkPhase.size
    var chunkedBody: [UInt8] = []
    var trailerBytes = 0
    /// Where scanning the current chunk-size or trailer line resumes (no CR
    /// or LF before it); lines start at `chunkCursor`, so a stale value from
    /// an earlier line is always below it and ignored.
    var lineScanResume = 0
    /// Sticky failure.
    var failure: HTTPParseError?

    /// A parser with `limits`.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// The head of the current request once its headers are complete and
    /// its body is not (lets the server answer `100 Continue`).
    public var pendingHead: HTTPParsedRequest? { head?.request }

    /// Forgets the current request (the connection drops its bytes).
    public mutating func reset() {
        self = HTTPRequestParser(limits: limits)
    }

    // MARK: - Parsing

    /// Parses `bytes` (see the type's description for the calling contract).
    public mutating func parse(_ bytes: [UInt8]) -> HTTPParseResult {
        bytes.withUnsafeBufferPointer { parse($0) }
    }

    /// Parses `bytes` (see the type's description for the calling contract).
    public mutating func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> HTTPParseResult {
        if let failure { return .invalid(failure) }
        let result = parseUnchecked(bytes)
        if case .invalid(let error) = result { failure = error }
        if case .complete = result { reset() }
        return result
    }

    private mutating func parseUnchecked(_ bytes: UnsafeBufferPointer<UInt8>) -> HTTPParseResult {
        if head == nil {
            switch scanHead(bytes) {
            case .failure(let error): return .invalid(error)
            case .success(nil): return .incomplete
            case .success(let end?):
                switch parseHead(bytes, end: end) {
                case .failure(let error): return .invalid(error)
                case .success(let parsed):
                    head = parsed
                    bodyStart = end
                    chunkCursor = end
                }
            }
        }
        guard let head else { return .incomplete }
        switch head.framing {
        case .none:
            return .complete(head.request, consumed: bodyStart)
        case .length(let length):
            guard bytes.count - bodyStart >= length else { return .incomplete }
            var request = head.request
            request.body = Array(UnsafeBufferPointer(rebasing: bytes[bodyStart..<(bodyStart + length)]))
            return .complete(request, consumed: bodyStart + length)
        case .chunked:
            switch decodeChunks(bytes) {
            case .failure(let error): return .invalid(error)
            case .success(nil): return .incomplete
            case .success(let end?):
                var request = head.request
                request.body = chunkedBody
                chunkedBody = []
                return .complete(request, consumed: end)
            }
        }
    }

    // MARK: - Head scanning

    /// Finds the blank line ending the head, checking line endings and the
    /// size limit on the way. Answers the offset just past it, or nil.
    private mutating func scanHead(_ p: UnsafeBufferPointer<UInt8>) -> Result<Int?, HTTPParseError> {
        let count = p.count
        // Leading empty lines are skipped (RFC 9112 §2.2); a few at most.
        if scanned == headStart {
            while headStart < count {
                if p[headStart] == ASCII.cr {
                    guard headStart + 1 < count else { return .success(nil) }
                    guard p[headStart + 1] == ASCII.lf else { return .failure(.invalidLineEnding) }
                    headStart += 2
                    scanned = headStart
                    if headStart > 64 { return .failure(.invalidRequestLine) }
                } else if p[headStart] == ASCII.lf {
                    return .failure(.invalidLineEnding)
                } else {
                    break
                }
            }
            scanned = headStart
        }
        // Every check below happens at a byte position, so feeding the bytes
        // in pieces gives the same answer as feeding them at once.
        let limit = min(count, headStart + limits.maxHeaderBytes)
        let maxLineBytes = limits.maxTargetBytes + 64
        var index = scanned
        while index < limit {
            let byte = p[index]
            if byte == ASCII.lf {
                guard index > headStart, p[index - 1] == ASCII.cr else { return .failure(.invalidLineEnding) }
                if firstLineEnd < 0 { firstLineEnd = index + 1 }
                if index - headStart >= 3 && p[index - 2] == ASCII.lf {
                    scanned = index + 1
                    return .success(index + 1)
                }
            } else if index > headStart && p[index - 1] == ASCII.cr {
                return .failure(.invalidLineEnding)
            } else if byte == 0 {
                return .failure(firstLineEnd < 0 ? .invalidRequestLine : .invalidHeaderValue)
            } else if firstLineEnd < 0 && index - headStart >= maxLineBytes {
                // The request line alone is longer than any acceptable target.
                return .failure(.targetTooLong)
            }
            index += 1
        }
        scanned = index
        if index - headStart >= limits.maxHeaderBytes {
            return .failure(firstLineEnd < 0 ? .targetTooLong : .headersTooLarge)
        }
        return .success(nil)
    }
}

// MARK: - ASCII

/// Byte constants and character classes used by the parser.
enum ASCII {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let comma: UInt8 = 0x2C

    /// Whether `byte` may appear in a token (method, header name): RFC 9110 tchar.
    @inline(__always)
    static func isTokenChar(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    /// Whether `byte` may appear in a field value: VCHAR, SP, HTAB or obs-text.
    @inline(__always)
    static func isFieldValueChar(_ byte: UInt8) -> Bool {
        byte == tab || (byte >= 0x20 && byte != 0x7F)
    }

    /// ASCII lower case of a letter; other bytes unchanged.
    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
    }

    /// Whether `bytes` equals the lower-case ASCII `literal`, ignoring case.
    @inline(__always)
    static func equalsLowercased(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let l = literal.utf8Start
        for i in 0..<bytes.count where lower(bytes[i]) != l[i] { return false }
        return true
    }
}
