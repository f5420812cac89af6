#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - HTTPServerConfiguration

/// Everything the server can be told: where to listen, how much a client
/// may send, how long it may take, compression, TLS and logging.
/// Every field has a default that suits a service behind a reverse proxy.
public struct HTTPServerConfiguration: Sendable {
    /// Sizes and counts a client may not exceed.
    public struct Limits: Sendable {
        /// Bytes of request line plus headers (default 16 KiB); more → 431.
        public var maxHeaderBytes: Int = 16 * 1024
        /// Bytes of the request target (default 8 KiB); more → 414.
        public var maxTargetBytes: Int = 8 * 1024
        /// Header fields per request (default 100); more → 431.
        public var maxHeaderCount: Int = 100
        /// Body bytes as sent on the wire, after chunked decoding (default 8 MiB); more → 413.
        public var maxBodyBytes: Int = 8 * 1024 * 1024
        /// Body bytes after `Content-Encoding: gzip` inflation; more → 413.
        /// Nil (the default) means ``maxBodyBytes``: the limit is on what the
        /// handler gets, so a small compressed body can't smuggle in a big one.
        public var maxDecompressedBodyBytes: Int?
        /// The inflation limit in force (``maxDecompressedBodyBytes`` or ``maxBodyBytes``).
        public var inflatedBodyLimit: Int { maxDecompressedBodyBytes ?? maxBodyBytes }
        /// Response bytes not yet written, over all connections (default
        /// 128 MiB; 0 = unlimited). A response larger than 64 KiB that would
        /// go beyond it is replaced by a 503 with `Retry-After`, so clients
        /// that don't read their answers can't make the server hold more.
        public var maxUnsentBytes: Int = 128 * 1024 * 1024
        /// Requests served on one connection before it is closed (default 10 000; 0 = unlimited).
        public var maxRequestsPerConnection: Int = 10_000
        /// Open client connections (default 1024). A connection beyond this
        /// gets a 503 with `Connection: close`.
        public var maxConnections: Int = 1024

        /// The defaults.
        public init() {}
    }

    /// Time limits, in seconds. A client that takes longer is answered 408
    /// (header/body) or disconnected (idle/write); it never holds a worker.
    public struct Timeouts: Sendable {
        /// From the first byte of a request until its headers are complete (default 10 s).
        public var header: Double = 10
        /// From the end of the headers until the body is complete (default 30 s).
        public var body: Double = 30
        /// Keep-alive: how long a connection may sit between requests (default 15 s).
        public var idle: Double = 15
        /// How long writing one response may stall (default 30 s).
        public var write: Double = 30
        /// Graceful shutdown: how long in-flight requests get to finish (default 10 s).
        public var drain: Double = 10

        /// The defaults.
        public init() {}
    }

    /// Address to bind, e.g. `127.0.0.1`, `0.0.0.0`, `::1` (default 127.0.0.1).
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free port (see ``HTTPServer/start()``). Default 8080.
    public var port: Int = 8080
    /// Size and count limits.
    public var limits = Limits()
    /// Time limits.
    public var timeouts = Timeouts()
    /// Bodies at least this long are gzip-compressed when the client's
    /// `Accept-Encoding` allows it (default 1024 bytes).
    public var gzipMinimumBytes: Int = 1024
    /// PEM certificate chain; with ``tlsKeyPath`` it turns on TLS.
    public var tlsCertificatePath: String?
    /// PEM private key for ``tlsCertificatePath``.
    public var tlsKeyPath: String?
    /// Receives one JSON line (no trailing newline) per request. Default:
    /// ``standardErrorLog``; nil turns access logging off.
    public var accessLog: (@Sendable (String) -> Void)? = HTTPServerConfiguration.standardErrorLog
    /// Headers added to every response, including the server's own errors
    /// (e.g. `X-Model-Version`); a handler's own value wins. Called once per
    /// response, sometimes on an I/O queue: keep it cheap.
    public var extraResponseHeaders: (@Sendable () -> [(String, String)])?
    /// Listen backlog (default 1024).
    public var backlog: Int32 = 1024

    /// The defaults: 127.0.0.1:8080, no TLS, access log on stderr.
    public init() {}

    /// A configuration for `host:port`, other fields default.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Whether TLS is configured.
    public var tlsEnabled: Bool { tlsCertificatePath != nil && tlsKeyPath != nil }

    /// Writes `line` plus a newline to standard error in one `write(2)`.
    public static let standardErrorLog: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(2, raw.baseAddress! + offset, raw.count - offset)
                if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
            }
        }
    }
}
