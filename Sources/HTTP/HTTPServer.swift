import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - HTTPServer

/// What the server reports after each response (for metrics).
public struct HTTPRequestMetrics: Sendable {
    /// Request method.
    public var method: String
    /// The matched route pattern (e.g. `/collections/{name}`), or nil when
    /// no route matched or the server runs a plain handler. Use it, not the
    /// path, as a metrics label: it has bounded cardinality.
    public var route: String?
    /// Status code sent.
    public var status: Int
    /// Seconds from the request being complete to the response being written.
    public var duration: Double
    /// Body bytes received (after decoding).
    public var requestBytes: Int
    /// Body bytes sent (after compression).
    public var responseBytes: Int
    /// The request id.
    public var requestId: String

    /// Methods a metrics label may name (RFC 9110 §9 and PATCH).
    public static let labelledMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"]

    /// The method as a metrics label: itself when HTTP defines it, else
    /// `other`, so junk methods from a client can't grow the label set.
    public var methodLabel: String { HTTPRequestMetrics.labelledMethods.contains(method) ? method : "other" }

    /// The route as a metrics label: the matched pattern, else `other`.
    public var routeLabel: String { route ?? "other" }
}

/// Errors from starting the server.
public enum HTTPServerError: Error, CustomStringConvertible {
    /// The host string is not an IPv4/IPv6 address literal or `localhost`.
    case invalidHost(String)
    /// A system call failed (bind, listen, …).
    case system(SystemCallError)
    /// TLS could not be set up (bad certificate/key paths or contents).
    case tls(String)
    /// `start()` was called twice.
    case alreadyStarted

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .invalidHost(let host): return "cannot listen on '\(host)': use an IP address literal or localhost"
        case .system(let error): return error.description
        case .tls(let message): return "TLS setup failed: \(message)"
        case .alreadyStarted: return "the server is already started"
        }
    }
}

/// A hand-written HTTP/1.1 server on POSIX sockets and Dispatch.
///
/// Sockets are non-blocking and watched by dispatch sources on a few
/// serial I/O queues; each connection asks a value-type state machine
/// what to do next. Handlers run in a Swift `Task`, never on an I/O queue,
/// and the task is cancelled if the client goes away first.
///
/// ```swift
/// var router = Router()
/// router.get("/health") { _ in .json(#"{"status":"ok"}"#) }
/// let server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), router: router)
/// let port = try server.start()
/// await server.runUntilTerminated()   // SIGTERM/SIGINT → graceful drain → return
/// ```
public final class HTTPServer: @unchecked Sendable {
    /// The configuration the server was created with.
    public let configuration: HTTPServerConfiguration
    /// Called after every response (including the server's own errors),
    /// off the I/O queues. Set it before ``start()``.
    public var onRequestComplete: (@Sendable (HTTPRequestMetrics) -> Void)?

    /// Checks a request from its head alone when the client sent `Expect:
    /// 100-continue`, before it sends the body: a response answers it at
    /// once (the body is never read, the connection closes), nil lets the
    /// server send `100 Continue`. The request has no body; its route is
    /// matched. Runs on an I/O queue: keep it cheap. Set it before ``start()``.
    public var beforeBody: (@Sendable (HTTPRequest) -> HTTPResponse?)?

    let handler: HTTPHandler
    let router: Router?
    let core: ServerCore

    /// A server that sends every request to `handler` (no routing).
    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(), handler: @escaping HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
        self.router = nil
        self.core = ServerCore(configuration: configuration)
    }

    /// A server that routes requests with `router` (404/405 for misses).
    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(), router: Router) {
        self.configuration = configuration
        self.handler = { request in await router.handle(request) }
        self.router = router
        self.core = ServerCore(configuration: configuration)
    }

    // MARK: - Life cycle

    /// Binds, listens and starts accepting. Answers the bound port (useful
    /// with port 0). Throws ``HTTPServerError`` when the address is bad or
    /// taken, or the TLS files can't be loaded.
    @discardableResult
    public func start() throws -> Int {
        try core.start(server: self)
    }

    /// The bound port; 0 before ``start()``.
    public var port: Int { core.boundPort }

    /// Client connections open right now.
    public var connectionCount: Int { core.connectionCount }

    /// Response bytes not yet written to clients (bounded by `limits.maxUnsentBytes`).
    public var unsentResponseBytes: Int { core.unsentResponseBytes }

    /// Graceful shutdown: stops accepting (new connections are refused),
    /// closes idle keep-alive connections, lets requests in flight finish
    /// for up to `gracePeriod` seconds (default `timeouts.drain`), then
    /// closes whatever is left, cancels its handlers and waits for them to
    /// return (so nothing a handler uses is torn down under it), and returns.
    /// Calling it again waits for the first call to finish.
    public func shutdown(gracePeriod: Double? = nil) async {
        await core.shutdown(gracePeriod: gracePeriod ?? configuration.timeouts.drain)
    }

    /// Installs handlers for `signals` (default SIGTERM and SIGINT), waits
    /// for the first of them, then runs ``shutdown(gracePeriod:)`` and
    /// returns, so the process can exit 0. Returns early if ``shutdown(gracePeriod:)``
    /// is called by someone else.
    public func runUntilTerminated(signals: [Int32] = [SIGTERM, SIGINT]) async {
        await core.runUntilTerminated(signals: signals, server: self)
    }

    // MARK: - Error responses

    /// The JSON error response the server sends for a refused request.
    public static func errorResponse(for error: HTTPParseError) -> HTTPResponse {
        HTTPResponse.error(status: error.status, code: error.code, message: error.message)
    }
}
