import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - TestClient

/// A tiny blocking HTTP/1.1 client over a raw socket, shared by the test
/// targets that talk to a real server, so tests control every byte sent and
/// see every byte received. Two ways to use it:
///
/// - `TestClient(port:)` opens one connection for the test to drive byte by
///   byte (`send`, `readResponse`, `isClosedByServer`): pipelining, limits,
///   timeouts, keep-alive.
/// - `TestClient(requestsTo:)` opens none; `request` and `post` send each
///   request on a fresh connection with `Connection: close`.
///
/// Reads time out instead of hanging a test. `@unchecked Sendable`: a
/// persistent connection is driven by one thread at a time, and `request`
/// touches no shared state (each call opens its own connection), so tests
/// may send one-shot requests from many threads at once.
public final class TestClient: @unchecked Sendable {
    /// The server's port on 127.0.0.1.
    public let port: Int
    /// The persistent connection; -1 for a requests-only client.
    public let fd: Int32
    private var buffer: [UInt8] = []

    /// A response as read off the wire.
    public struct Response {
        /// The status code.
        public var status: Int
        /// The header fields in the order received.
        public var headers: Headers
        /// The body (after any `Content-Length` cut, or dechunked).
        public var body: [UInt8]
        /// The size of each chunk of a chunked body, in order (the final
        /// zero-size chunk not included); empty for other framings.
        public var chunkSizes: [Int] = []

        /// The value of header `name` (any case).
        public func header(_ name: String) -> String? { headers[name] }
        /// The body as UTF-8 text.
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The body parsed as JSON, or nil.
        public var json: Any? { try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) }
        /// `error.code` of a JSON error body.
        public var errorCode: String? { ((json as? [String: Any])?["error"] as? [String: Any])?["code"] as? String }
        /// `error.message` of a JSON error body.
        public var errorMessage: String? { ((json as? [String: Any])?["error"] as? [String: Any])?["message"] as? String }
    }

    /// Response header fields; names compare case-insensitively.
    public struct Headers {
        /// (name, value) pairs as received.
        public var fields: [(String, String)]
        /// The first value of `name`, any case.
        public subscript(name: String) -> String? {
            fields.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// Why a read or connect failed.
    public enum ClientError: Error { case connect(Int32), timeout, closed, malformed(String) }

    /// Connects to 127.0.0.1:`port`; reads and writes time out after `timeout` seconds.
    public init(port: Int, timeout: Double = 5) throws {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            let code = errno
            close(fd)
            throw ClientError.connect(code)
        }
        setTimeout(timeout)
    }

    /// A client that only sends one-shot requests (`request`, `post`) to 127.0.0.1:`port`.
    public init(requestsTo port: Int) {
        self.port = port
        fd = -1
    }

    deinit { if fd >= 0 { close(fd) } }

    // MARK: One-shot requests

    /// Sends one request on a new connection and reads the response.
    public func request(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:],
                        contentType: String? = "application/json", timeout: Double = 60) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let contentType, body != nil { head += "Content-Type: \(contentType)\r\n" }
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        var raw = Array(head.utf8)
        if let body { raw.append(contentsOf: body) }
        let connection = try TestClient(port: port, timeout: timeout)
        guard connection.send(raw) else { throw ClientError.closed }
        return try connection.readResponse(head: method == "HEAD")
    }

    /// POSTs `json` (serialised with JSONSerialization) as `application/json`.
    public func post(_ path: String, json: Any, headers: [String: String] = [:]) throws -> Response {
        try request("POST", path, body: try JSONSerialization.data(withJSONObject: json), headers: headers)
    }

    // MARK: The persistent connection

    /// Sets the read and write timeouts.
    public func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends all of `bytes` (errors such as EPIPE are returned, not thrown).
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Sends `text` as UTF-8.
    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Reads one response (Content-Length, chunked or close-delimited body).
    /// `head`: the request was HEAD, so no body follows. A chunked body
    /// whose last chunk never comes throws ``ClientError/closed``.
    public func readResponse(head: Bool = false) throws -> Response {
        var headEnd: Int?
        while true {
            if let end = findHeadEnd() { headEnd = end; break }
            try fill()
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw ClientError.malformed(statusLine) }
        var fields: [(String, String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw ClientError.malformed(line) }
            fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        buffer.removeFirst(headEnd! + 4)
        var response = Response(status: status, headers: Headers(fields: fields), body: [])
        if status < 200 || status == 204 || status == 304 || head { return response }
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            try readChunkedBody(into: &response)
        } else if let lengthText = response.header("Content-Length"), let length = Int(lengthText) {
            while buffer.count < length { try fill() }
            response.body = Array(buffer[0..<length])
            buffer.removeFirst(length)
        } else {
            while (try? fill()) != nil {}
            response.body = buffer
            buffer = []
        }
        return response
    }

    /// Whether the server closed the connection (EOF within `timeout`).
    public func isClosedByServer(timeout: Double = 3) -> Bool {
        setTimeout(timeout)
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
            buffer.append(byte)
        }
    }

    /// Bytes received before EOF/timeout, raw.
    public func readAll() -> [UInt8] {
        while (try? fill()) != nil {}
        defer { buffer = [] }
        return buffer
    }

    /// Reads chunks until the zero-size one and the blank line after it
    /// (the server sends no trailers).
    private func readChunkedBody(into response: inout Response) throws {
        while true {
            var lineEnd: Int?
            while lineEnd == nil {
                lineEnd = buffer.count >= 2 ? (0..<(buffer.count - 1)).first { buffer[$0] == 13 && buffer[$0 + 1] == 10 } : nil
                if lineEnd == nil { try fill() }
            }
            let sizeText = String(decoding: buffer[0..<lineEnd!], as: UTF8.self)
            guard let size = Int(sizeText, radix: 16) else { throw ClientError.malformed("chunk size \(sizeText)") }
            buffer.removeFirst(lineEnd! + 2)
            while buffer.count < size + 2 { try fill() }
            guard buffer[size] == 13 && buffer[size + 1] == 10 else { throw ClientError.malformed("no CRLF after a chunk") }
            if size == 0 {
                buffer.removeFirst(2)
                return
            }
            response.body.append(contentsOf: buffer[0..<size])
            response.chunkSizes.append(size)
            buffer.removeFirst(size + 2)
        }
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { buffer.append(contentsOf: chunk[0..<n]); return }
        if n == 0 { throw ClientError.closed }
        if errno == EAGAIN || errno == EWOULDBLOCK { throw ClientError.timeout }
        throw ClientError.closed
    }
}
