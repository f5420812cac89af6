#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - SystemCallError

/// A failed system call: which one and its `errno`.
public struct SystemCallError: Error, CustomStringConvertible, Equatable {
    /// The call's name, e.g. `"bind"`.
    public var call: String
    /// The `errno` value it left.
    public var errno: Int32

    /// `bind: Address already in use (errno 98)`.
    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }

    /// Whether the call would have blocked (`EAGAIN`/`EWOULDBLOCK`).
    var wouldBlock: Bool { errno == EAGAIN || errno == EWOULDBLOCK }
}

// MARK: - SystemCall

/// The one place syscalls are made: retries `EINTR` and turns `-1` into a
/// typed ``SystemCallError``.
enum SystemCall {
    /// Runs `body` until it returns something other than -1/EINTR.
    @inline(__always)
    static func run<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            throw SystemCallError(call: "\(name)", errno: code)
        }
    }

    /// Like ``run(_:_:)``, but `EAGAIN` gives nil instead of throwing.
    @inline(__always)
    static func nonBlocking<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws -> T? {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return nil }
            throw SystemCallError(call: "\(name)", errno: code)
        }
    }

    /// Closes `fd`, ignoring errors (EINTR on close must not be retried on Linux).
    static func close(_ fd: Int32) {
        #if canImport(Glibc)
        _ = Glibc.close(fd)
        #else
        _ = Darwin.close(fd)
        #endif
    }

    /// Sets `O_NONBLOCK` on `fd`.
    static func setNonBlocking(_ fd: Int32) throws {
        let flags = try run("fcntl") { fcntl(fd, F_GETFL) }
        _ = try run("fcntl") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Sets an integer socket option.
    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws {
        var value = value
        _ = try run("setsockopt") { setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }
}

// MARK: - accept4

/// `accept4(2)`: Glibc's header declares it only under `_GNU_SOURCE`, which
/// the Swift module for Glibc doesn't set, so it is bound by symbol name.
@_silgen_name("accept4")
func systemAccept4(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?,
                   _ length: UnsafeMutablePointer<socklen_t>?, _ flags: Int32) -> Int32
