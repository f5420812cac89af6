// MARK: - Request pipeline
//
// Runs in the request's Task, off the I/O queues: content decoding,
// routing, the handler, compression, serialisation, logging, metrics.

extension ServerCore {
    /// Produces the encoded response for `request` (parsed at `started`).
    func respond(to request: HTTPRequest, started: Double) async -> EncodedResponse {
        var request = request
        let acceptsGzip = request.headers["Accept-Encoding"].map(Gzip.accepts) ?? false
        let requestBytes = request.body.count
        var route: String?
        let response: HTTPResponse
        if let refusal = decodeBody(&request) {
            response = refusal
        } else if let router = routerForPipeline {
            switch router.match(method: request.method, path: request.path) {
            case .found(let handler, let parameters, let pattern):
                request.pathParameters = parameters
                request.routePattern = pattern
                route = pattern
                response = await handler(request)
            case .methodNotAllowed(let allowed, let pattern):
                route = pattern
                response = Router.methodNotAllowedResponse(method: request.method, allowed: allowed)
            case .notFound:
                response = Router.notFoundResponse(path: request.path)
            }
        } else {
            response = await handlerForPipeline(request)
        }
        return finish(response, requestId: request.requestId, method: request.method, path: request.path,
                      route: route, headRequest: request.method == "HEAD", acceptsGzip: acceptsGzip,
                      started: started, requestBytes: requestBytes, remote: request.remoteAddress,
                      forwardedFor: request.headers["X-Forwarded-For"])
    }

    /// Runs an immediate handler (see ``Router/addImmediate(_:_:_:)``) right
    /// here on the I/O queue; nil when the route has none, or the body needs
    /// decoding (that is work, and belongs in a task).
    func respondImmediately(to request: HTTPRequest, started: Double) -> EncodedResponse? {
        guard let router = routerForPipeline, request.body.isEmpty || !request.headers.contains("Content-Encoding") else {
            return nil
        }
        let resolved = router.resolve(method: request.method, path: request.path)
        guard let immediate = resolved.immediate, case .found(_, let parameters, let pattern) = resolved.match else {
            return nil
        }
        var request = request
        request.pathParameters = parameters
        request.routePattern = pattern
        let response = immediate(request)
        return finish(response, requestId: request.requestId, method: request.method, path: request.path,
                      route: pattern, headRequest: request.method == "HEAD",
                      acceptsGzip: request.headers["Accept-Encoding"].map(Gzip.accepts) ?? false,
                      started: started, requestBytes: request.body.count, remote: request.remoteAddress,
                      forwardedFor: request.headers["X-Forwarded-For"])
    }

    /// Asks the server's ``HTTPServer/beforeBody`` check about a request
    /// whose head asked for `100 Continue`; answers the refusal, if any.
    func checkBeforeBody(_ head: HTTPParsedRequest, remoteAddress: String) -> HTTPResponse? {
        guard let check = beforeBodyHook else { return nil }
        var request = HTTPRequest(method: head.method, target: head.target, version: head.version,
                                  headers: head.headers, body: [], remoteAddress: remoteAddress)
        if let router = routerForPipeline,
           case .found(_, let parameters, let pattern) = router.match(method: head.method, path: request.path) {
            request.pathParameters = parameters
            request.routePattern = pattern
        }
        return check(request)
    }

    /// Inflates a `Content-Encoding: gzip` body in place; answers the error
    /// response when the body can't be accepted.
    func decodeBody(_ request: inout HTTPRequest) -> HTTPResponse? {
        guard let coding = request.headers["Content-Encoding"] else { return nil }
        switch Substring(coding).trimmingWhitespace().lowercased() {
        case "", "identity":
            return nil
        case "gzip", "x-gzip":
            switch Gzip.decompress(request.body, limit: configuration.limits.inflatedBodyLimit) {
            case .success(let inflated):
                request.body = inflated
                request.headers.remove(name: "Content-Encoding")
                return nil
            case .failure(.tooLarge):
                return HTTPResponse.error(
                    status: 413, code: "payload_too_large",
                    message: "The request body inflates to more than \(configuration.limits.inflatedBodyLimit) bytes (the body limit applies after decompression); send less per request.")
            case .failure(.corrupt):
                return HTTPResponse.error(
                    status: 400, code: "bad_request",
                    message: "The request body is not valid gzip; check Content-Encoding.")
            }
        default:
            return HTTPResponse.error(
                status: 415, code: "unsupported_media_type",
                message: "Content-Encoding '\(coding)' is not supported; send gzip or an unencoded body.")
        }
    }

    /// Adds server headers, compresses if allowed, encodes, logs and reports metrics.
    func finish(_ response: HTTPResponse, requestId: String, method: String, path: String, route: String?,
                headRequest: Bool, acceptsGzip: Bool, started: Double, requestBytes: Int,
                remote: String, forwardedFor: String?) -> EncodedResponse {
        var response = response
        if let extra = configuration.extraResponseHeaders {
            for (name, value) in extra() where !response.headers.contains(name) {
                response.headers.add(name: name, value: value)
            }
        }
        // A stream is never compressed: its size is unknown, and deflating
        // it would cost CPU per byte and a compressor's state per client.
        let compressible = response.stream == nil
            && response.body.count >= configuration.gzipMinimumBytes
            && response.status >= 200 && response.status != 204 && response.status != 304
            && !response.headers.contains("Content-Encoding")
        if compressible {
            if !response.headers.contains("Vary") { response.headers.add(name: "Vary", value: "Accept-Encoding") }
            if acceptsGzip, let compressed = Gzip.compress(response.body), compressed.count < response.body.count {
                response.body = compressed
                response.headers.add(name: "Content-Encoding", value: "gzip")
            }
        }
        var encoded = ResponseEncoder.encode(response, requestId: requestId, headRequest: headRequest)
        if let stream = response.stream, encoded.stream == nil {
            // HEAD or a bodyless status: nothing will be pulled.
            stream.close()
        }
        if reserveUnsent(encoded.body.count) {
            encoded.reservedUnsent = encoded.body.count
        } else {
            // Slow readers already hold the whole budget: refuse rather than
            // queue this body too (memory stays bounded; the client retries).
            let busy = HTTPResponse.error(
                status: 503, code: "server_busy",
                message: "Responses waiting for slow clients fill the server's send budget; retry shortly.")
            var refusal = ResponseEncoder.encode(busy, requestId: requestId, headRequest: headRequest)
            refusal.head.append(contentsOf: "Retry-After: 1\r\n".utf8)
            refusal.reservedUnsent = reserveUnsent(refusal.body.count) ? refusal.body.count : 0
            encoded = refusal
        }
        let status = encoded.status
        let report: @Sendable (Int) -> Void = { [configuration, metricsHook] bytes in
            let duration = Clock.now() - started
            if let log = configuration.accessLog {
                log(AccessLog.line(requestId: requestId, method: method, path: path, status: status,
                                   bytes: bytes, durationSeconds: duration, remote: remote,
                                   forwardedFor: forwardedFor))
            }
            if let metrics = metricsHook {
                metrics(HTTPRequestMetrics(method: method, route: route, status: status, duration: duration,
                                           requestBytes: requestBytes, responseBytes: bytes,
                                           requestId: requestId))
            }
        }
        if encoded.stream != nil {
            // Logged when the body ends (or the client leaves), with the bytes sent.
            encoded.streamEnded = report
        } else {
            report(encoded.body.count)
        }
        return encoded
    }
}
