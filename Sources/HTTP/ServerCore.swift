import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - ServerCore

/// The listening socket, the connection table, the request pipeline and
/// shutdown. ``HTTPServer`` is its public face.
final class ServerCore: @unchecked Sendable {
    let configuration: HTTPServerConfiguration
    let machineSettings: ConnectionStateMachine.Settings
    let idPrefix = RequestIdentifier.newPrefix()

    private let lock = Lock()
    private var listenFD: Int32 = -1
    private var listenSource: DispatchSourceRead?
    private let acceptQueue = DispatchQueue(label: "ranksmith.http.accept")
    /// Where body streams are pulled: off the I/O queues, since a pull may
    /// block on a file read.
    let streamQueue = DispatchQueue(label: "ranksmith.http.stream", qos: .utility, attributes: .concurrent)
    private let ioQueues: [DispatchQueue]
    private var nextQueue = 0
    private var nextConnectionID = 0
    private var connections: [Int: HTTPConnection] = [:]
    private var started = false
    private var listenerClosed = true
    private var stopping = false
    private var stopped = false
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []
    private var tls: TLSContext?
    private(set) var boundPort = 0

    // Set by HTTPServer.start().
    private(set) var handlerForPipeline: HTTPHandler = { _ in HTTPResponse.empty(status: 500) }
    private(set) var routerForPipeline: Router?
    private(set) var metricsHook: (@Sendable (HTTPRequestMetrics) -> Void)?
    private(set) var beforeBodyHook: (@Sendable (HTTPRequest) -> HTTPResponse?)?
    /// Response bytes written by no connection yet (see ``reserveUnsent(_:)``).
    private var unsentBytes = 0
    /// Handler tasks started and not yet returned (shutdown waits for them).
    private var runningHandlers = 0

    init(configuration: HTTPServerConfiguration) {
        self.configuration = configuration
        let limits = configuration.limits
        self.machineSettings = ConnectionStateMachine.Settings(
            parserLimits: HTTPRequestParser.Limits(
                maxHeaderBytes: limits.maxHeaderBytes, maxTargetBytes: limits.maxTargetBytes,
                maxHeaderCount: limits.maxHeaderCount, maxBodyBytes: limits.maxBodyBytes),
            timeouts: configuration.timeouts,
            maxRequests: limits.maxRequestsPerConnection)
        let count = max(2, min(8, System.activeProcessorCount))
        ioQueues = (0..<count).map { DispatchQueue(label: "ranksmith.http.io.\($0)") }
    }

    var connectionCount: Int { lock.withLock { connections.count } }

    /// A handler task is about to start.
    func handlerStarted() { lock.withLock { runningHandlers += 1 } }

    /// A handler task returned (its response is made, perhaps for nobody).
    func handlerFinished() { lock.withLock { runningHandlers -= 1 } }

    // MARK: - Unsent response budget

    /// Responses up to this size are always sent; only larger ones can be
    /// refused for the budget (so a probe or an error always gets through).
    static let alwaysSentBytes = 64 * 1024

    /// Response bytes waiting to be written, over all connections.
    var unsentResponseBytes: Int { lock.withLock { unsentBytes } }

    /// Counts `count` response bytes against `limits.maxUnsentBytes`;
    /// answers false (counting nothing) when a large response would exceed it.
    func reserveUnsent(_ count: Int) -> Bool {
        lock.withLock {
            let limit = configuration.limits.maxUnsentBytes
            if count > ServerCore.alwaysSentBytes && limit > 0 && unsentBytes + count > limit { return false }
            unsentBytes += count
            return true
        }
    }

    /// Counts a piece of a streamed body, which is never refused: a stream
    /// holds at most one piece (``streamPieceBytes``) per connection.
    func countUnsent(_ count: Int) {
        lock.withLock { unsentBytes += count }
    }

    /// Bytes a stream is asked for at a time: 64 KiB, or less when the
    /// unsent budget is smaller (then one piece never exceeds it).
    var streamPieceBytes: Int {
        let limit = configuration.limits.maxUnsentBytes
        return limit > 0 ? max(1, min(ServerCore.alwaysSentBytes, limit)) : ServerCore.alwaysSentBytes
    }

    /// Gives back bytes counted by ``reserveUnsent(_:)``.
    func releaseUnsent(_ count: Int) {
        guard count > 0 else { return }
        lock.withLock { unsentBytes -= count }
    }

    // MARK: - Start

    func start(server: HTTPServer) throws -> Int {
        try lock.withLock {
            if started { throw HTTPServerError.alreadyStarted }
            started = true
        }
        handlerForPipeline = server.handler
        routerForPipeline = server.router
        metricsHook = server.onRequestComplete
        beforeBodyHook = server.beforeBody
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            tls = try TLSContext(certificatePath: certificate, keyPath: key)
        }
        // A peer that vanishes mid-write must not kill the process (OpenSSL
        // writes with write(2), which raises SIGPIPE).
        signal(SIGPIPE, SIG_IGN)
        let listener = try Listener.open(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        listenFD = listener.fd
        boundPort = listener.port
        lock.withLock { listenerClosed = false }
        let source = DispatchSource.makeReadSource(fileDescriptor: listener.fd, queue: acceptQueue)
        source.setEventHandler { [unowned self] in self.acceptAll() }
        source.setCancelHandler { [self] in
            SystemCall.close(listener.fd)
            lock.withLock { listenerClosed = true }
        }
        listenSource = source
        source.resume()
        return listener.port
    }

    // MARK: - Accepting

    private func acceptAll() {
        while true {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd: Int32?
            do {
                fd = try withUnsafeMutablePointer(to: &address) { pointer in
                    try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                        try SystemCall.nonBlocking("accept4") {
                            systemAccept4(listenFD, raw, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                        }
                    }
                }
            } catch let error as SystemCallError {
                if error.errno == ECONNABORTED || error.errno == EPROTO { continue }
                // Out of descriptors: pause accepting briefly instead of spinning.
                if error.errno == EMFILE || error.errno == ENFILE, let listening = listenSource {
                    // Dispatch sources are thread-safe but not marked Sendable.
                    // The same source is resumed even if shutdown cancels it
                    // meanwhile: releasing a suspended source traps.
                    nonisolated(unsafe) let source = listening
                    source.suspend()
                    acceptQueue.asyncAfter(deadline: .now() + .milliseconds(100)) { source.resume() }
                }
                return
            } catch {
                return
            }
            guard let fd else { return }
            admit(fd: fd, address: address)
        }
    }

    private func admit(fd: Int32, address: sockaddr_storage) {
        try? SystemCall.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let remote = Listener.describe(address)
        let (connection, overLimit): (HTTPConnection?, Bool) = lock.withLock {
            if stopping { return (nil, false) }
            if connections.count >= configuration.limits.maxConnections { return (nil, true) }
            nextConnectionID += 1
            let queue = ioQueues[nextQueue]
            nextQueue = (nextQueue + 1) % ioQueues.count
            let transport: Transport
            if let tls {
                guard let tlsTransport = TLSTransport(context: tls, fd: fd) else { return (nil, false) }
                transport = tlsTransport
            } else {
                transport = PlainTransport(fd: fd)
            }
            let connection = HTTPConnection(id: nextConnectionID, fd: fd, remoteAddress: remote,
                                            queue: queue, core: self, transport: transport)
            connections[nextConnectionID] = connection
            return (connection, false)
        }
        guard let connection else {
            if overLimit && tls == nil { refuseOverLimit(fd: fd, remote: remote) }
            SystemCall.close(fd)
            return
        }
        connection.queue.async { connection.start() }
    }

    /// Best effort: one non-blocking write of a 503, then close.
    private func refuseOverLimit(fd: Int32, remote: String) {
        let response = HTTPResponse.error(
            status: 503, code: "too_many_connections",
            message: "The server has too many open connections; retry shortly.")
        var encoded = finish(response, requestId: RequestIdentifier.generate(prefix: idPrefix, connection: 0, sequence: 0),
                             method: "-", path: "-", route: nil, headRequest: false, acceptsGzip: false,
                             started: Clock.now(), requestBytes: 0, remote: remote, forwardedFor: nil)
        releaseUnsent(encoded.reservedUnsent)
        encoded.head.append(contentsOf: "Retry-After: 1\r\nConnection: close\r\n\r\n".utf8)
        let bytes = encoded.head + encoded.body
        _ = bytes.withUnsafeBytes { raw in
            try? SystemCall.nonBlocking("send") { send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        }
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    func connectionClosed(_ connection: HTTPConnection) {
        lock.withLock { _ = connections.removeValue(forKey: connection.id) }
    }

    // MARK: - Shutdown

    func shutdown(gracePeriod: Double) async {
        let first: Bool = lock.withLock {
            if stopping { return false }
            stopping = true
            return true
        }
        guard first else {
            await waitUntilStopped()
            return
        }
        if let listenSource {
            listenSource.cancel()
            self.listenSource = nil
        }
        for connection in lock.withLock({ Array(connections.values) }) {
            connection.queue.async { connection.drain() }
        }
        let deadline = Clock.now() + max(0, gracePeriod)
        // The listening socket is closed (not just unwatched) before anything else waits.
        while !lock.withLock({ listenerClosed }) {
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
        while connectionCount > 0 && Clock.now() < deadline {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        for connection in lock.withLock({ Array(connections.values) }) {
            connection.queue.async { connection.forceClose() }
        }
        let hardDeadline = Clock.now() + 5
        while connectionCount > 0 && Clock.now() < hardDeadline {
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        // Cancelled handlers return promptly; until they have, the caller
        // must not tear down what they use, nor exit the process under them.
        let handlerDeadline = Clock.now() + 5
        while lock.withLock({ runningHandlers }) > 0 && Clock.now() < handlerDeadline {
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        let waiters: [CheckedContinuation<Void, Never>] = lock.withLock {
            stopped = true
            defer { stopWaiters = [] }
            return stopWaiters
        }
        waiters.forEach { $0.resume() }
    }

    func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: Bool = lock.withLock {
                if stopped { return true }
                stopWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    var isStopping: Bool { lock.withLock { stopping } }

    func runUntilTerminated(signals: [Int32], server: HTTPServer) async {
        let signalQueue = DispatchQueue(label: "ranksmith.http.signals")
        let fired = Lock()
        var triggered = false
        let sources: [DispatchSourceSignal] = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
            source.setEventHandler { [weak self] in
                let first = fired.withLock { () -> Bool in
                    defer { triggered = true }
                    return !triggered
                }
                guard first, let self else { return }
                Task { await self.shutdown(gracePeriod: self.configuration.timeouts.drain) }
            }
            source.resume()
            return source
        }
        await waitUntilStopped()
        sources.forEach { $0.cancel() }
        for number in signals { signal(number, SIG_DFL) }
    }
}
