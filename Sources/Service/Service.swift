import Engine
import Foundation
import Generator
import HTTP
import Jobs
import Numerics
import Refinement
import Synchronization

// MARK: - The service

/// Ranksmith's HTTP service: decodes requests, calls the engine (the
/// HTTP-free core: models, batcher, collections, pipelines) and turns its
/// answers and `EngineError`s into responses; owns the HTTP server and the
/// metrics. One file per area: `Service+Embed.swift`, `Service+Rerank.swift`,
/// `Service+Search.swift`, `Service+Collections.swift`,
/// `Service+Operations.swift`, and the routes other servers' clients call,
/// `Service+Compatibility.swift` (TEI) and `Service+Ollama.swift`. See docs/architecture.md for the request path.
public final class RanksmithService: @unchecked Sendable {
    /// What `ranksmith serve` was told.
    public let configuration: ServiceConfiguration
    /// The core the handlers call.
    public let engine: InferenceEngine
    /// Prometheus metrics served at /metrics.
    public let metrics = MetricsRegistry()
    let started = Date()
    /// The generator refinement jobs use by default (`--generator`), as `/info` names it.
    let generator: GeneratorDescription
    private(set) var server: HTTPServer?
    /// Background jobs under `<data-dir>/jobs`; nil if that folder failed
    /// to open (then job endpoints answer 503 with `jobsError`).
    let jobs: JobQueue?
    let jobsError: String?
    /// Counters of synthesis jobs, for /metrics.
    let synthesisMetrics = SynthesisMetrics()
    private let isReady = Mutex(false)

    /// Loads the model and prepares the data directory; throws a
    /// `ServiceStartError` with one line saying what to fix.
    public init(configuration: ServiceConfiguration) throws {
        self.configuration = configuration
        // One BLAS thread per caller: the encoder spreads a batch over the
        // cores itself (see BertModel.embed).
        BLAS.setThreads(1)
        try Self.prepareDataDirectory(configuration.dataDirectory)
        guard FileManager.default.fileExists(atPath: configuration.generatorPath) else {
            throw ServiceStartError("generator file \(configuration.generatorPath) not found: run `make models` or pass --generator FILE")
        }
        do {
            generator = try GeneratorDescription(path: configuration.generatorPath)
        } catch {
            throw ServiceStartError("generator file \(configuration.generatorPath) cannot be used: \((error as? GeneratorFileError)?.reason ?? "\(error)")")
        }
        let handle: ModelHandle
        do {
            handle = try ModelHandle.load(path: configuration.modelPath, crossEncoderPath: configuration.crossEncoderPath)
        } catch {
            throw ServiceStartError("cannot load the embedding model: \(error)")
        }
        var options = InferenceEngine.Configuration()
        options.maxInputsPerRequest = configuration.maxInputsPerRequest
        options.batcher.maxBatchTokens = configuration.maxBatchTokens
        options.batcher.maxQueuedInputs = configuration.maxQueuedInputs
        options.batcher.threads = configuration.threads > 0 ? configuration.threads : ProcessInfo.processInfo.activeProcessorCount
        options.maxMemoryBytes = configuration.maxMemoryBytes
        let metrics = self.metrics
        let engine = InferenceEngine(
            configuration: options, base: handle, basePath: configuration.modelPath,
            dataDirectory: configuration.dataDirectory,
            observer: { report in
                metrics.observe("ranksmith_queue_seconds", report.timing.queueSeconds)
                metrics.observe("ranksmith_inference_seconds", report.timing.inferenceSeconds)
                metrics.increment("ranksmith_tokens_total", by: Double(report.tokens))
                metrics.increment("ranksmith_inputs_total", by: Double(report.inputs))
                if report.truncated > 0 { metrics.increment("ranksmith_truncated_inputs_total", by: Double(report.truncated)) }
            })
        self.engine = engine
        for note in engine.startupNotes {
            FileHandle.standardError.write(Data("ranksmith serve: \(note)\n".utf8))
        }
        if let error = engine.collectionsError {
            // Serve embeddings anyway; collection endpoints and /ready say why not.
            FileHandle.standardError.write(Data("ranksmith serve: collections unavailable: \(error)\n".utf8))
        }
        (jobs, jobsError) = Self.openJobs(configuration, metrics: synthesisMetrics, engine: engine)
        declareMetrics()
        declareJobMetrics()
    }

    static func prepareDataDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ServiceStartError("data directory \(path) is a file, not a directory: pass --data-dir DIR")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            let reason = (error as NSError).userInfo[NSUnderlyingErrorKey].map { "\($0)" } ?? "a parent is not a writable directory"
            throw ServiceStartError("data directory \(path) cannot be created (\(reason)): fix the path or its permissions, or pass --data-dir DIR")
        }
        let probe = URL(fileURLWithPath: path).appendingPathComponent(".write-test-\(getpid())")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data("ok".utf8)) else {
            throw ServiceStartError("data directory \(path) is not writable: fix its permissions or pass --data-dir DIR")
        }
        try? FileManager.default.removeItem(at: probe)
    }

    /// The active model and the hot-swap.
    public var models: ModelRegistry { engine.models }

    // MARK: Life cycle

    /// Starts the batcher and the HTTP server; answers the bound port.
    @discardableResult
    public func start() throws -> Int {
        engine.batcher.onBatch = { [metrics] report in
            metrics.observe("ranksmith_batch_inputs", Double(report.inputs))
            metrics.observe("ranksmith_batch_seconds", report.seconds)
            metrics.increment("ranksmith_batch_tokens_total", by: Double(report.tokens))
        }
        engine.start()
        var http = configuration.http
        http.host = configuration.host
        http.port = configuration.port
        let models = self.models
        http.extraResponseHeaders = { [("X-Model-Version", models.active.version)] }
        let server = HTTPServer(configuration: http, router: makeRouter())
        server.beforeBody = { [unowned self] in self.refusalBeforeBody($0) }
        server.onRequestComplete = { [metrics] m in
            // Labels from fixed sets only: a client must not be able to add series.
            let labels = [("route", m.routeLabel), ("method", m.methodLabel), ("status", String(m.status))]
            metrics.increment("ranksmith_http_requests_total", labels)
            metrics.observe("ranksmith_http_request_seconds", m.duration, [("route", m.routeLabel)])
        }
        let port: Int
        do {
            port = try server.start()
        } catch HTTPServerError.tls(let message) {
            engine.stop()
            throw ServiceStartError("TLS setup failed: \(message); check --tls-cert and --tls-key")
        } catch {
            engine.stop()
            throw ServiceStartError("cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
        self.server = server
        jobs?.start()
        setReady(true)
        let stale = engine.staleCollections
        if !stale.isEmpty {
            // A start that fell back to another version: re-embed what
            // still holds the unloadable version's vectors.
            let version = models.active.version
            let outcome: String
            do {
                try engine.startActivation(version: version)
                outcome = "re-embedding them with \(version) in the background (GET /models/activation)"
            } catch {
                outcome = "cannot re-embed them now (\(error)); POST /models/\(version)/activate to retry"
            }
            FileHandle.standardError.write(Data("ranksmith serve: collections \(stale.joined(separator: ", ")) hold vectors of another version; \(outcome)\n".utf8))
        }
        return port
    }

    /// Serves until SIGTERM/SIGINT, then shuts down in order: stop
    /// accepting, let requests in flight finish (up to the drain timeout),
    /// cancel the rest and wait for their handlers, stop the batcher. Answers
    /// whether the batcher's thread ended within `computeGrace` seconds; when
    /// it did not, a forward pass is still running and the caller must leave
    /// without running exit handlers under it (see `ServeCommand`).
    @discardableResult
    public func runUntilTerminated(computeGrace: Double = 2) async -> Bool {
        await server?.runUntilTerminated()
        setReady(false)
        jobs?.stop()
        return engine.stop(waitingUpTo: computeGrace)
    }

    /// Drains and stops (tests use this instead of a signal).
    public func shutdown() async {
        setReady(false)
        await server?.shutdown()
        jobs?.stop()
        engine.stop()
    }

    func setReady(_ value: Bool) {
        isReady.withLock { $0 = value }
    }

    var ready: Bool { isReady.withLock { $0 } }

    // MARK: Routing

    func makeRouter() -> Router {
        var router = Router()
        // Cheap probes answer on the connection's own queue (no task hop).
        router.addImmediate("GET", "/health") { _ in .json(#"{"status":"ok"}"#) }
        router.addImmediate("GET", "/ready") { [unowned self] in self.readiness($0) }
        router.get("/info") { [unowned self] in await self.info($0) }
        router.get("/metrics") { [unowned self] in await self.metricsText($0) }
        router.post("/embed", data { try await $0.embedTEI($1) })
        router.post("/v1/embeddings", data { try await $0.embedOpenAI($1) })
        addCompatibilityRoutes(&router)
        router.post("/rerank", data { try await $0.rerankTEI($1) })
        router.post("/v1/rerank", data { try await $0.rerankCohere($1) })
        router.post("/tokenize", data { try await $0.tokenize($1) })
        router.put("/collections/{name}", data { try await $0.createCollection($1) })
        router.get("/collections", data { try await $0.listCollections($1) })
        router.get("/collections/{name}", data { try await $0.describeCollection($1) })
        router.delete("/collections/{name}", data { try await $0.deleteCollection($1) })
        router.post("/collections/{name}/documents", data { try await $0.upsertDocuments($1) })
        router.get("/collections/{name}/documents/{id}", data { try await $0.getDocument($1) })
        router.delete("/collections/{name}/documents/{id}", data { try await $0.deleteDocument($1) })
        router.post("/search", data { try await $0.search($1) })
        addJobRoutes(&router)
        router.get("/models", data { try await $0.listModels($1) })
        router.get("/models/activation", data { try await $0.activationStatus($1) })
        router.post("/models/{version}/activate", data { try await $0.activateModel($1) })
        router.delete("/models/{version}", data { try await $0.deleteModel($1) })
        return router
    }

    /// Wraps a data-endpoint handler: API key check (the admin key on the
    /// admin routes, see `isAdminRoute`), readiness, and turning thrown
    /// `APIError`s, `EngineError`s and `JobError`s into responses, worded
    /// in the route's error dialect (`ErrorDialect`: Ranksmith's own, or
    /// that of the server a compatibility route imitates).
    func data(_ handler: @escaping @Sendable (RanksmithService, HTTPRequest) async throws -> HTTPResponse) -> HTTPHandler {
        { [unowned self] request in
            let dialect = ErrorDialect.of(route: request.routePattern)
            do {
                try self.authorize(request, admin: Self.isAdminRoute(request.routePattern))
                guard self.ready else { throw APIError.notReady("the service is starting or draining; retry shortly") }
                return try await handler(self, request)
            } catch let error as APIError {
                return dialect.response(error)
            } catch let error as EngineError {
                return dialect.response(dialect.apiError(error))
            } catch let error as JobError {
                return dialect.response(Self.apiError(error))
            } catch is CancellationError {
                return dialect.response(APIError(status: 499, code: "client_closed", message: "the client closed the connection"))
            } catch {
                return dialect.response(APIError(status: 500, code: "internal", message: "\(error)"))
            }
        }
    }

    /// Routes that stay open when API keys are set (probes and metrics).
    static let openRoutes: Set<String> = ["/health", "/ready", "/info", "/metrics"]

    /// Routes open to GET (and HEAD) only: TEI's health probes, whose
    /// paths also take POSTs that need a key (`POST /` embeds).
    static let openProbeRoutes: Set<String> = ["/", "/ping"]

    /// Whether the route `pattern` needs the admin key: the job and model
    /// routes. Both the handlers and the check before a body ask this.
    static func isAdminRoute(_ pattern: String?) -> Bool {
        guard let pattern else { return false }
        return pattern.hasPrefix("/models") || pattern.hasPrefix("/jobs")
    }

    /// The answer a request gets from its head alone, before the client
    /// sends a body it announced with `Expect: 100-continue`: a 401 for a
    /// missing or wrong key on a data endpoint, else nil (`100 Continue`).
    func refusalBeforeBody(_ request: HTTPRequest) -> HTTPResponse? {
        guard let route = request.routePattern, !Self.openRoutes.contains(route) else { return nil }
        // GET / and GET /ping are TEI's health probes; POST / embeds.
        if request.method == "GET" || request.method == "HEAD", Self.openProbeRoutes.contains(route) { return nil }
        do {
            try authorize(request, admin: Self.isAdminRoute(route))
            return nil
        } catch let error as APIError {
            return ErrorDialect.of(route: route).response(error)
        } catch {
            return nil
        }
    }

    /// Checks `Authorization: Bearer <key>` against the configured keys.
    func authorize(_ request: HTTPRequest, admin: Bool) throws {
        let keys = admin ? (configuration.adminKey.map { [$0] } ?? (configuration.apiKeys.isEmpty ? [] : [""])) : configuration.apiKeys
        guard !keys.isEmpty else { return }
        let header = request.headers["Authorization"] ?? ""
        let prefix = "Bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix("bearer ") else { throw APIError.unauthorized(admin: admin) }
        let presented = Array(header.dropFirst(prefix.count).utf8)
        // Compare against every key in constant time per key.
        var ok = false
        for key in keys where !key.isEmpty {
            let k = Array(key.utf8)
            var diff = UInt8(k.count == presented.count ? 0 : 1)
            for i in 0..<min(k.count, presented.count) { diff |= k[i] ^ presented[i] }
            if diff == 0 { ok = true }
        }
        guard ok else { throw APIError.unauthorized(admin: admin) }
    }
}

/// A start-up failure: one line saying what to fix.
public struct ServiceStartError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
