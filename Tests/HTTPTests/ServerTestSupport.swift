import Foundation
import HTTP
import XCTest

// MARK: - A server with test routes

/// Flags the `/hang` handler sets, so tests can see cancellation.
final class HandlerProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var _started = 0
    private var _cancelled = 0
    var started: Int { lock.lock(); defer { lock.unlock() }; return _started }
    var cancelled: Int { lock.lock(); defer { lock.unlock() }; return _cancelled }
    func markStarted() { lock.lock(); _started += 1; lock.unlock() }
    func markCancelled() { lock.lock(); _cancelled += 1; lock.unlock() }
}

/// Routes used across the socket tests.
func testRouter(probe: HandlerProbe = HandlerProbe()) -> Router {
    var router = Router()
    router.get("/health") { _ in .json(#"{"status":"ok"}"#) }
    router.post("/echo") { request in
        var response = HTTPResponse(status: 200, headers: ["Content-Type": "application/octet-stream"], body: request.body)
        response.headers.add(name: "X-Body-Length", value: String(request.body.count))
        return response
    }
    router.get("/big") { _ in .text(String(repeating: "ranksmith ", count: 500)) }
    router.get("/items/{id}") { request in .text("item \(request.pathParameters["id"] ?? "?") q=\(request.query["q"] ?? "")") }
    router.get("/slow") { _ in
        try? await Task.sleep(nanoseconds: 300_000_000)
        return .text("slow done")
    }
    router.get("/hang") { _ in
        probe.markStarted()
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        probe.markCancelled()
        return .text("cancelled")
    }
    router.get("/large") { _ in HTTPResponse(status: 200, headers: ["Content-Encoding": "identity"], body: [UInt8](repeating: 0x61, count: 4 << 20)) }
    router.get("/request-id") { request in .text(request.requestId) }
    router.addImmediate("GET", "/ping/{who}") { request in .text("pong \(request.pathParameters["who"] ?? "") \(request.requestId.isEmpty ? "no-id" : "id")") }
    return router
}

/// Starts a server on an ephemeral port; stops it when the test ends.
func startServer(_ test: XCTestCase, configuration: HTTPServerConfiguration = testConfiguration(),
                 router: Router = testRouter()) throws -> (HTTPServer, Int) {
    let server = HTTPServer(configuration: configuration, router: router)
    let port = try server.start()
    test.addTeardownBlock { await server.shutdown(gracePeriod: 1) }
    return (server, port)
}
