import Foundation
import HTTP
import TestSupport
import XCTest

/// Refusals over real sockets: smuggling shapes, limits, timeouts,
/// content coding, the connection limit.
final class ServerLimitsTests: XCTestCase {
    private func expectRefusal(_ wire: String, status: Int, port: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let client = try TestClient(port: port)
        client.send(wire)
        let response = try client.readResponse()
        XCTAssertEqual(response.status, status, wire.prefix(80).debugDescription, file: file, line: line)
        XCTAssertEqual(response.header("Connection"), "close", file: file, line: line)
        XCTAssertEqual(response.header("Content-Type"), "application/json", file: file, line: line)
        XCTAssertTrue(response.text.contains(#""error":{"code":"#), file: file, line: line)
        XCTAssertTrue(client.isClosedByServer(), file: file, line: line)
    }

    func testSmugglingShapesAreRefusedAndClosed() throws {
        let (_, port) = try startServer(self)
        try expectRefusal("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, port: port)
        try expectRefusal("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", status: 400, port: port)
        try expectRefusal("GET /health HTTP/1.1\r\nHost: x\r\nX: a\r\n  folded\r\n\r\n", status: 400, port: port)
        try expectRefusal("GET /health HTTP/1.1\nHost: x\n\n", status: 400, port: port)
        try expectRefusal("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", status: 400, port: port)
        try expectRefusal("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501, port: port)
        try expectRefusal("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n", status: 411, port: port)
        try expectRefusal("GET /health HTTP/3.0\r\nHost: x\r\n\r\n", status: 505, port: port)
    }

    func testSizeLimits() throws {
        var configuration = testConfiguration()
        configuration.limits.maxHeaderBytes = 2048
        configuration.limits.maxTargetBytes = 512
        configuration.limits.maxHeaderCount = 10
        configuration.limits.maxBodyBytes = 4096
        let (_, port) = try startServer(self, configuration: configuration)
        try expectRefusal("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 3000))\r\n\r\n", status: 431, port: port)
        try expectRefusal("GET /health HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-N: 1\r\n", count: 11) + "\r\n", status: 431, port: port)
        try expectRefusal("GET /\(String(repeating: "t", count: 600)) HTTP/1.1\r\nHost: x\r\n\r\n", status: 414, port: port)
        try expectRefusal("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", status: 413, port: port)
        // A big body already on its way still gets to read the 413 (lingering close).
        let client = try TestClient(port: port)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = "1000\r\n" + String(repeating: "z", count: 4096) + "\r\n"
        client.send(chunk + chunk)
        XCTAssertEqual(try client.readResponse().status, 413)
    }

    func testRequestsPerConnectionLimit() throws {
        var configuration = testConfiguration()
        configuration.limits.maxRequestsPerConnection = 2
        let (_, port) = try startServer(self, configuration: configuration)
        let client = try TestClient(port: port)
        client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertNil(try client.readResponse().header("Connection"))
        client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().header("Connection"), "close")
        XCTAssertTrue(client.isClosedByServer())
    }

    func testPipelinedRequestsBeyondTheLimitDoNotLoseTheLastResponse() throws {
        var configuration = testConfiguration()
        configuration.limits.maxRequestsPerConnection = 1
        let (_, port) = try startServer(self, configuration: configuration)
        let client = try TestClient(port: port)
        client.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.body.count, 5000)
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertTrue(client.isClosedByServer())
    }

    func testHeaderTimeoutAnswers408AndIdleTimeoutCloses() throws {
        var configuration = testConfiguration()
        configuration.timeouts.header = 0.3
        configuration.timeouts.idle = 0.3
        let (_, port) = try startServer(self, configuration: configuration)
        let partial = try TestClient(port: port)
        partial.send("GET /health HTTP/1.1\r\nHost: x\r\n")
        let response = try partial.readResponse()
        XCTAssertEqual(response.status, 408)
        XCTAssertTrue(partial.isClosedByServer())

        let idle = try TestClient(port: port)
        idle.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try idle.readResponse().status, 200)
        let started = Date()
        XCTAssertTrue(idle.isClosedByServer(timeout: 3))
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.5)

        let silent = try TestClient(port: port)
        XCTAssertTrue(silent.isClosedByServer(timeout: 3))
    }

    func testBodyTimeout() throws {
        var configuration = testConfiguration()
        configuration.timeouts.body = 0.3
        let (_, port) = try startServer(self, configuration: configuration)
        let client = try TestClient(port: port)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        XCTAssertEqual(try client.readResponse().status, 408)
    }

    func testConnectionLimitAnswers503() throws {
        var configuration = testConfiguration()
        configuration.limits.maxConnections = 2
        let (server, port) = try startServer(self, configuration: configuration)
        let first = try TestClient(port: port)
        let second = try TestClient(port: port)
        first.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        second.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try first.readResponse().status, 200)
        XCTAssertEqual(try second.readResponse().status, 200)
        let third = try TestClient(port: port)
        let refused = try third.readResponse()
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.header("Retry-After"), "1")
        XCTAssertTrue(third.isClosedByServer())
        XCTAssertEqual(server.connectionCount, 2)
    }

    // MARK: - Content coding

    func testGzipResponsesFollowAcceptEncoding() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        client.send("GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, gzip;q=0.8\r\n\r\n")
        let zipped = try client.readResponse()
        XCTAssertEqual(zipped.header("Content-Encoding"), "gzip")
        XCTAssertEqual(zipped.header("Vary"), "Accept-Encoding")
        XCTAssertEqual(Gzip.decompress(zipped.body, limit: 1 << 20), .success(Array(String(repeating: "ranksmith ", count: 500).utf8)))

        client.send("GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0\r\n\r\n")
        let plain = try client.readResponse()
        XCTAssertNil(plain.header("Content-Encoding"))
        XCTAssertEqual(plain.body.count, 5000)

        client.send("GET /health HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        XCTAssertNil(try client.readResponse().header("Content-Encoding"), "small bodies stay plain")
    }

    func testGzipRequestBodiesInflateAndBombsAre413() throws {
        var configuration = testConfiguration()
        configuration.limits.maxDecompressedBodyBytes = 100_000
        let (_, port) = try startServer(self, configuration: configuration)
        let client = try TestClient(port: port)
        let payload = Array(String(repeating: "embed me ", count: 1000).utf8)
        let zipped = try XCTUnwrap(Gzip.compress(payload))
        client.send(Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: \(zipped.count)\r\n\r\n".utf8) + zipped)
        let echoed = try client.readResponse()
        XCTAssertEqual(echoed.status, 200)
        XCTAssertEqual(echoed.header("X-Body-Length"), String(payload.count))

        let bomb = try XCTUnwrap(Gzip.compress([UInt8](repeating: 0, count: 5_000_000)))
        XCTAssertLessThan(bomb.count, 10_000)
        client.send(Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n".utf8) + bomb)
        XCTAssertEqual(try client.readResponse().status, 413)

        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertEqual(try client.readResponse().status, 415)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertEqual(try client.readResponse().status, 400)
    }
}
