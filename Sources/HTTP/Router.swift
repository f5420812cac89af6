// MARK: - Router

/// Handles one request. Runs off the I/O queues (in a `Task`); the task is
/// cancelled when the client disconnects first, so long work should check
/// `Task.isCancelled` and may return anything (the response is discarded).
public typealias HTTPHandler = @Sendable (HTTPRequest) async -> HTTPResponse

/// A handler cheap enough to run on the I/O queue itself (no waiting, no
/// real work: `/health`, `/ready`). It saves two thread hops per request.
public typealias HTTPImmediateHandler = @Sendable (HTTPRequest) -> HTTPResponse

/// Maps `(method, path pattern)` to handlers. Patterns are literal segments
/// and `{name}` parameters, e.g. `/collections/{name}/documents/{id}`.
///
/// A path no pattern matches gets 404; a path that matches with another
/// method gets 405 with `Allow`. `HEAD` uses the `GET` handler when no
/// `HEAD` route exists (the server drops the body). Literal segments win
/// over parameters at the same position. Build the router, then hand it to
/// ``HTTPServer``; it is a value, so later changes don't reach the server.
public struct Router: Sendable {
    /// The outcome of ``match(method:path:)``.
    public enum Match: Sendable {
        /// A route matched; call `handler` with `parameters` set on the request.
        case found(handler: HTTPHandler, parameters: [String: String], pattern: String)
        /// The path matched patterns, but none for this method.
        case methodNotAllowed(allowed: [String], pattern: String)
        /// No pattern matches the path.
        case notFound
    }

    // MARK: - Storage

    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    private struct Route: Sendable {
        var pattern: String
        var segments: [Segment]
        var handlers: [String: HTTPHandler]
        var immediate: [String: HTTPImmediateHandler] = [:]
    }

    /// Routes without parameters, by exact path (the fast path for /health).
    private var literalRoutes: [String: Route] = [:]
    /// Routes with parameters, tried in the order they were added.
    private var parameterRoutes: [Route] = []

    /// An empty router: every request gets 404.
    public init() {}

    // MARK: - Adding routes

    /// Adds `handler` for `method` (e.g. `"GET"`) on `pattern`. Adding the
    /// same method and pattern again replaces the handler.
    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping HTTPHandler) {
        update(pattern) { route in
            route.handlers[method] = handler
            route.immediate[method] = nil
        }
    }

    /// Adds a synchronous `handler` that the server runs directly on the
    /// connection's I/O queue. Only for answers that need no work and never
    /// wait (health and readiness probes); everything else uses ``add(_:_:_:)``.
    public mutating func addImmediate(_ method: String, _ pattern: String, _ handler: @escaping HTTPImmediateHandler) {
        update(pattern) { route in
            route.handlers[method] = { request in handler(request) }
            route.immediate[method] = handler
        }
    }

    private mutating func update(_ pattern: String, _ change: (inout Route) -> Void) {
        let segments = Router.segments(of: pattern)
        if !segments.contains(where: { if case .parameter = $0 { return true } else { return false } }) {
            change(&literalRoutes[pattern, default: Route(pattern: pattern, segments: segments, handlers: [:])])
            return
        }
        if let index = parameterRoutes.firstIndex(where: { $0.segments == segments }) {
            change(&parameterRoutes[index])
        } else {
            var route = Route(pattern: pattern, segments: segments, handlers: [:])
            change(&route)
            parameterRoutes.append(route)
            parameterRoutes.sort { Router.moreSpecific($0.segments, $1.segments) }
        }
    }

    /// `add("GET", pattern, handler)`.
    public mutating func get(_ pattern: String, _ handler: @escaping HTTPHandler) { add("GET", pattern, handler) }
    /// `add("POST", pattern, handler)`.
    public mutating func post(_ pattern: String, _ handler: @escaping HTTPHandler) { add("POST", pattern, handler) }
    /// `add("PUT", pattern, handler)`.
    public mutating func put(_ pattern: String, _ handler: @escaping HTTPHandler) { add("PUT", pattern, handler) }
    /// `add("DELETE", pattern, handler)`.
    public mutating func delete(_ pattern: String, _ handler: @escaping HTTPHandler) { add("DELETE", pattern, handler) }

    // MARK: - Matching

    /// Finds the handler for `method` on `path` (raw, without query).
    public func match(method: String, path: String) -> Match {
        resolve(method: method, path: path).match
    }

    /// ``match(method:path:)`` plus the immediate handler, if the route has one.
    func resolve(method: String, path: String) -> (match: Match, immediate: HTTPImmediateHandler?) {
        if let route = literalRoutes[path] {
            let immediate = route.immediate[method] ?? (method == "HEAD" && route.handlers["HEAD"] == nil ? route.immediate["GET"] : nil)
            return (Router.select(route, method: method, parameters: [:]), immediate)
        }
        var pathSegments: [Substring] = []
        var allowedPattern: (allowed: [String], pattern: String)?
        for route in parameterRoutes {
            if pathSegments.isEmpty { pathSegments = Router.pathSegments(path) }
            guard let parameters = Router.bind(route.segments, to: pathSegments) else { continue }
            let result = Router.select(route, method: method, parameters: parameters)
            if case .methodNotAllowed(let allowed, let pattern) = result {
                if allowedPattern == nil { allowedPattern = (allowed, pattern) }
                continue
            }
            let immediate = route.immediate[method] ?? (method == "HEAD" && route.handlers["HEAD"] == nil ? route.immediate["GET"] : nil)
            return (result, immediate)
        }
        if let allowedPattern {
            return (.methodNotAllowed(allowed: allowedPattern.allowed, pattern: allowedPattern.pattern), nil)
        }
        return (.notFound, nil)
    }

    /// Routes `request` and runs its handler; 404/405 in the error shape otherwise.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        switch match(method: request.method, path: request.path) {
        case .found(let handler, let parameters, let pattern):
            var routed = request
            routed.pathParameters = parameters
            routed.routePattern = pattern
            return await handler(routed)
        case .methodNotAllowed(let allowed, _):
            return Router.methodNotAllowedResponse(method: request.method, allowed: allowed)
        case .notFound:
            return Router.notFoundResponse(path: request.path)
        }
    }

    /// The 404 response the router gives.
    public static func notFoundResponse(path: String) -> HTTPResponse {
        HTTPResponse.error(status: 404, code: "not_found",
                           message: "No endpoint at \(path). Check the path against the API documentation.")
    }

    /// The 405 response the router gives, with `Allow`.
    public static func methodNotAllowedResponse(method: String, allowed: [String]) -> HTTPResponse {
        let list = allowed.joined(separator: ", ")
        var response = HTTPResponse.error(status: 405, code: "method_not_allowed",
                                          message: "\(method) is not allowed here; use one of: \(list).")
        response.headers.add(name: "Allow", value: list)
        return response
    }

    // MARK: - Helpers

    private static func select(_ route: Route, method: String, parameters: [String: String]) -> Match {
        if let handler = route.handlers[method] ?? (method == "HEAD" ? route.handlers["GET"] : nil) {
            return .found(handler: handler, parameters: parameters, pattern: route.pattern)
        }
        var allowed = Array(route.handlers.keys)
        if route.handlers["GET"] != nil && route.handlers["HEAD"] == nil { allowed.append("HEAD") }
        return .methodNotAllowed(allowed: allowed.sorted(), pattern: route.pattern)
    }

    private static func segments(of pattern: String) -> [Segment] {
        pathSegments(pattern).map { segment in
            if segment.first == "{" && segment.last == "}" && segment.count > 2 {
                return .parameter(String(segment.dropFirst().dropLast()))
            }
            return .literal(String(segment))
        }
    }

    private static func pathSegments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
    }

    /// Whether `a` should be tried before `b`: at the first position where
    /// one has a literal and the other a parameter, the literal wins.
    private static func moreSpecific(_ a: [Segment], _ b: [Segment]) -> Bool {
        for (x, y) in zip(a, b) {
            switch (x, y) {
            case (.literal, .parameter): return true
            case (.parameter, .literal): return false
            default: continue
            }
        }
        return false
    }

    private static func bind(_ segments: [Segment], to path: [Substring]) -> [String: String]? {
        guard segments.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, actual) in zip(segments, path) {
            switch segment {
            case .literal(let literal):
                if literal != actual { return nil }
            case .parameter(let name):
                if actual.isEmpty { return nil }
                parameters[name] = PercentDecoding.decode(actual.utf8, plusIsSpace: false)
            }
        }
        return parameters
    }
}
