#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Transport

/// The outcome of one non-blocking read or write.
enum TransportResult {
    /// This many bytes moved (never 0).
    case bytes(Int)
    /// Try again when the socket is readable (or writable, if `wantsWrite`).
    case wouldBlock(wantsWrite: Bool)
    /// The peer closed the connection cleanly.
    case eof
    /// The connection is broken (reset, TLS error); close it.
    case failed
}

/// Moves bytes between a connection's buffers and its socket, in the clear
/// or through TLS. Used only on the connection's serial queue.
protocol Transport: AnyObject {
    /// Reads into `buffer` without blocking.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> TransportResult
    /// Writes from `buffer` without blocking.
    func write(_ buffer: UnsafeRawBufferPointer) -> TransportResult
    /// Ends the output direction (TLS close_notify, then TCP FIN).
    func shutdownOutput()
    /// Releases what the transport holds (the socket is closed by the caller).
    func release()
    /// Whether a read that filled less than the buffer proves the socket is
    /// drained for now (true for plain TCP; TLS may hold decrypted bytes).
    var shortReadMeansDrained: Bool { get }
}

// MARK: - PlainTransport

/// Unencrypted TCP.
final class PlainTransport: Transport {
    let fd: Int32

    init(fd: Int32) {
        self.fd = fd
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> TransportResult {
        do {
            guard let count = try SystemCall.nonBlocking("read", { Glibc.read(fd, buffer.baseAddress, buffer.count) }) else {
                return .wouldBlock(wantsWrite: false)
            }
            return count == 0 ? .eof : .bytes(count)
        } catch {
            return .failed
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) -> TransportResult {
        do {
            // MSG_NOSIGNAL: a peer that went away gives EPIPE, not SIGPIPE.
            guard let count = try SystemCall.nonBlocking("send", { send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }) else {
                return .wouldBlock(wantsWrite: true)
            }
            return count == 0 ? .wouldBlock(wantsWrite: true) : .bytes(count)
        } catch {
            return .failed
        }
    }

    func shutdownOutput() {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    func release() {}

    var shortReadMeansDrained: Bool { true }
}
