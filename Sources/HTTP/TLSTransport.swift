import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - TLSContext

/// A server TLS context (certificate chain and key), shared by connections.
final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer

    /// Loads a PEM certificate chain and private key; TLS 1.2 and later.
    init(certificatePath: String, keyPath: String) throws {
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw HTTPServerError.tls("cannot create an OpenSSL context: \(TLSContext.lastError())")
        }
        self.context = context
        // Not macros in Swift: SSL_CTX_set_min_proto_version and SSL_CTX_set_mode.
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        _ = SSL_CTX_ctrl(context, SSL_CTRL_MODE,
                         Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), nil)
        guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else {
            throw HTTPServerError.tls("cannot load certificate '\(certificatePath)': \(TLSContext.lastError())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyPath, SSL_FILETYPE_PEM) == 1 else {
            throw HTTPServerError.tls("cannot load private key '\(keyPath)': \(TLSContext.lastError())")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw HTTPServerError.tls("the private key does not match the certificate")
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// The newest OpenSSL error on this thread's queue, as text.
    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

// MARK: - TLSTransport

/// TLS over a non-blocking socket. The handshake is driven by the first
/// reads and writes, so a client that never finishes it is caught by the
/// header timeout like any other silent client.
final class TLSTransport: Transport {
    private let ssl: OpaquePointer
    private var handshakeDone = false
    private var outputShut = false

    init?(context: TLSContext, fd: Int32) {
        guard let ssl = SSL_new(context.context) else { return nil }
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        SSL_set_accept_state(ssl)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> TransportResult {
        if let pending = handshake() { return pending }
        ERR_clear_error()
        let count = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return count > 0 ? .bytes(Int(count)) : classify(count)
    }

    func write(_ buffer: UnsafeRawBufferPointer) -> TransportResult {
        if let pending = handshake() { return pending }
        ERR_clear_error()
        let count = SSL_write(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return count > 0 ? .bytes(Int(count)) : classify(count)
    }

    func shutdownOutput() {
        guard !outputShut else { return }
        outputShut = true
        if handshakeDone {
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
        }
        _ = Glibc.shutdown(SSL_get_fd(ssl), Int32(SHUT_WR))
    }

    func release() {
        SSL_free(ssl)
    }

    var shortReadMeansDrained: Bool { false }

    // MARK: - Helpers

    /// Advances the handshake; nil once it is complete.
    private func handshake() -> TransportResult? {
        guard !handshakeDone else { return nil }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            handshakeDone = true
            return nil
        }
        return classify(result)
    }

    private func classify(_ result: Int32) -> TransportResult {
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: return .wouldBlock(wantsWrite: false)
        case SSL_ERROR_WANT_WRITE: return .wouldBlock(wantsWrite: true)
        case SSL_ERROR_ZERO_RETURN: return .eof
        case SSL_ERROR_SYSCALL:
            return errno == EAGAIN || errno == EWOULDBLOCK ? .wouldBlock(wantsWrite: false) : .failed
        default: return .failed
        }
    }
}
