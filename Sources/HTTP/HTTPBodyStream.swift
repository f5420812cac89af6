import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - HTTPBodyStream

/// A response body produced in pieces (``HTTPResponse/stream``), for bodies
/// too large to hold at once or not yet complete.
///
/// The connection pulls one piece at a time, and only once the client has
/// taken the previous one off the socket, so a stream never holds more than
/// one piece in the server however large the body is and however slowly
/// the client reads. HTTP/1.1 clients get `Transfer-Encoding: chunked`;
/// HTTP/1.0 clients, which don't know chunked coding, get the body
/// delimited by the connection's close (see docs/http.md).
public protocol HTTPBodyStream: AnyObject, Sendable {
    /// The next bytes of the body, at most `limit` of them, or nil at its
    /// end (an empty piece is skipped). Called off the I/O queues, so it may
    /// block briefly (a file read); never twice at once. A thrown error ends
    /// the response early: the connection closes without the final chunk,
    /// which tells an HTTP/1.1 client the body is incomplete.
    func next(limit: Int) throws -> [UInt8]?

    /// Releases what the stream holds (its file). Called exactly once,
    /// after the last ``next(limit:)`` has returned: at the end of the body,
    /// after an error, when the client leaves, on shutdown, and at once for
    /// HEAD requests and bodyless statuses.
    func close()
}

// MARK: - BytesBodyStream

/// Bytes already in memory, handed out in pieces (tests, small bodies that
/// should share a streamed route's framing).
public final class BytesBodyStream: HTTPBodyStream {
    private let state: Mutex<(bytes: [UInt8], offset: Int, closed: Bool)>

    /// A stream of `bytes`.
    public init(_ bytes: [UInt8]) {
        state = Mutex((bytes, 0, false))
    }

    public func next(limit: Int) throws -> [UInt8]? {
        state.withLock { s in
            guard s.offset < s.bytes.count else { return nil }
            let end = min(s.bytes.count, s.offset + max(1, limit))
            defer { s.offset = end }
            return Array(s.bytes[s.offset..<end])
        }
    }

    public func close() {
        state.withLock { $0.closed = true; $0.bytes = [] }
    }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }
}

// MARK: - FileBodyStream

/// The first ``length`` bytes of a file, read sequentially.
///
/// The file is opened by the initialiser, and its size is taken then: a
/// file that keeps growing (a job appending lines) is sent as it was at the
/// moment of the request; with `wholeLinesOnly` the body also stops after
/// the last newline of that size, so a line being appended is never sent
/// torn. The descriptor stays open until ``close()``, so a file unlinked
/// meanwhile is still sent whole.
public final class FileBodyStream: HTTPBodyStream {
    /// Why a file can't be streamed.
    public enum OpenError: Error, Equatable {
        /// No such file.
        case missing
        /// Any other failure (permissions, a directory, an I/O error).
        case failed(SystemCallError)
    }

    /// Bytes the body has: the file's size when opened, cut after its last
    /// newline with `wholeLinesOnly`.
    public let length: Int
    private let state: Mutex<(fd: Int32, offset: Int)>

    /// Opens `path` and fixes ``length``.
    public init(path: String, wholeLinesOnly: Bool = false) throws(OpenError) {
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        if fd < 0 {
            let code = errno
            throw code == ENOENT ? .missing : .failed(SystemCallError(call: "open", errno: code))
        }
        do {
            var info = stat()
            _ = try SystemCall.run("fstat") { fstat(fd, &info) }
            guard info.st_mode & S_IFMT == S_IFREG else { throw SystemCallError(call: "open", errno: EISDIR) }
            let size = Int(info.st_size)
            length = wholeLinesOnly ? try FileBodyStream.endOfLastLine(fd: fd, size: size) : size
        } catch {
            SystemCall.close(fd)
            throw .failed(error as? SystemCallError ?? SystemCallError(call: "read", errno: EIO))
        }
        state = Mutex((fd, 0))
    }

    public func next(limit: Int) throws -> [UInt8]? {
        try state.withLock { s -> [UInt8]? in
            guard s.fd >= 0, s.offset < length else { return nil }
            let want = min(max(1, limit), length - s.offset)
            var piece = [UInt8](repeating: 0, count: want)
            let offset = s.offset
            let fd = s.fd
            let count = try piece.withUnsafeMutableBytes { raw in
                try SystemCall.run("pread") { pread(fd, raw.baseAddress, want, off_t(offset)) }
            }
            // The file shrank under us (truncated by hand): end short, as an
            // error, so the client sees an incomplete body rather than a
            // complete-looking one.
            guard count > 0 else { throw SystemCallError(call: "pread", errno: EIO) }
            if count < want { piece.removeSubrange(count...) }
            s.offset += count
            return piece
        }
    }

    public func close() {
        state.withLock { s in
            if s.fd >= 0 { SystemCall.close(s.fd) }
            s.fd = -1
        }
    }

    // A stream dropped without being sent (a handler that built one, then
    // failed) must not leak its descriptor.
    deinit { close() }

    /// The offset just after the last `\n` in the first `size` bytes (0 when
    /// there is none), read backwards in 64 KiB blocks.
    static func endOfLastLine(fd: Int32, size: Int) throws -> Int {
        var end = size
        var block = [UInt8](repeating: 0, count: 64 * 1024)
        while end > 0 {
            let start = max(0, end - block.count)
            let want = end - start
            let count = try block.withUnsafeMutableBytes { raw in
                try SystemCall.run("pread") { pread(fd, raw.baseAddress, want, off_t(start)) }
            }
            guard count == want else { throw SystemCallError(call: "pread", errno: EIO) }
            if let newline = block[0..<want].lastIndex(of: UInt8(ascii: "\n")) { return start + newline + 1 }
            end = start
        }
        return 0
    }
}
