// MARK: - HTTPRequest

/// The HTTP protocol version of a request (1.0 or 1.1; others are refused
/// by the parser with 505).
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    /// Major version digit.
    public var major: Int
    /// Minor version digit.
    public var minor: Int

    /// HTTP/1.0.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// A version from its digits.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// `HTTP/1.1` and so on.
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// One request as a handler sees it: framing is already removed (chunked
/// bodies are joined, `Content-Encoding: gzip` bodies are inflated).
public struct HTTPRequest: Sendable {
    /// The method token as sent, e.g. `GET` (methods are case-sensitive).
    public var method: String
    /// The request target as sent, e.g. `/search?q=a%20b`.
    public var target: String
    /// The path part of the target, still percent-encoded, e.g. `/search`.
    public var path: String
    /// Query parameters in order, percent-decoded (`+` reads as a space).
    public var queryItems: [(name: String, value: String)]
    /// The protocol version.
    public var version: HTTPVersion
    /// Header fields in order; lookup ignores case.
    public var headers: HTTPHeaders
    /// The body after transfer and content decoding; empty when none.
    public var body: [UInt8]
    /// The peer's address as `ip:port` (the TCP peer, not `X-Forwarded-For`).
    public var remoteAddress: String
    /// The request id: the client's `X-Request-Id` when it is sane, else a
    /// generated one. Echoed on the response.
    public var requestId: String
    /// Values of `{name}` segments of the matched route, percent-decoded.
    public var pathParameters: [String: String]
    /// The route pattern that matched, e.g. `/collections/{name}`; nil when
    /// the server runs a plain handler rather than a ``Router``.
    public var routePattern: String?

    /// A request built by hand (tests, or a handler calling another).
    public init(
        method: String, target: String, version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [],
        remoteAddress: String = "", requestId: String = "",
        pathParameters: [String: String] = [:], routePattern: String? = nil
    ) {
        self.method = method
        self.target = target
        let split = HTTPRequest.splitTarget(target)
        self.path = split.path
        self.queryItems = split.query
        self.version = version
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.requestId = requestId
        self.pathParameters = pathParameters
        self.routePattern = routePattern
    }

    /// Query parameters as a dictionary; the first occurrence of a name wins.
    public var query: [String: String] {
        var result: [String: String] = [:]
        for item in queryItems where result[item.name] == nil { result[item.name] = item.value }
        return result
    }

    /// The body as UTF-8 text (invalid bytes become U+FFFD).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    // MARK: - Target parsing

    /// Splits `/path?query` into the raw path and decoded query items.
    static func splitTarget(_ target: String) -> (path: String, query: [(name: String, value: String)]) {
        let utf8 = target.utf8
        guard let mark = utf8.firstIndex(of: UInt8(ascii: "?")) else { return (target, []) }
        let path = String(target[..<mark])
        var items: [(name: String, value: String)] = []
        let rest = utf8[utf8.index(after: mark)...]
        for pair in rest.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            if let eq = pair.firstIndex(of: UInt8(ascii: "=")) {
                items.append((name: PercentDecoding.decode(pair[..<eq], plusIsSpace: true),
                              value: PercentDecoding.decode(pair[pair.index(after: eq)...], plusIsSpace: true)))
            } else {
                items.append((name: PercentDecoding.decode(pair, plusIsSpace: true), value: ""))
            }
        }
        return (path, items)
    }
}

// MARK: - Percent decoding

/// `%XX` decoding of URL components. Malformed escapes are kept literally.
public enum PercentDecoding {
    /// Decodes `%XX` escapes (and `+` as space when asked) into a string.
    public static func decode<C: Collection>(_ bytes: C, plusIsSpace: Bool) -> String where C.Element == UInt8 {
        if !bytes.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                let first = bytes.index(after: index)
                if first != bytes.endIndex {
                    let second = bytes.index(after: first)
                    if second != bytes.endIndex, let high = hexValue(bytes[first]), let low = hexValue(bytes[second]) {
                        out.append(high << 4 | low)
                        index = bytes.index(after: second)
                        continue
                    }
                }
                out.append(byte)
            } else if plusIsSpace && byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(byte)
            }
            index = bytes.index(after: index)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of one hex digit, or nil.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
