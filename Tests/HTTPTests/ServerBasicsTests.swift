import Foundation
import HTTP
import TestSupport
import XCTest

/// Request/response basics over real sockets: keep-alive, pipelining,
/// bodies, HEAD, HTTP/1.0, request ids, access log, error shape.
final class ServerBasicsTests: XCTestCase {
    func testGetHealthKeepsConnectionOpen() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        for _ in 0..<3 {
            client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.text, #"{"status":"ok"}"#)
            XCTAssertEqual(response.header("Content-Type"), "application/json")
            XCTAssertNil(response.header("Connection"))
            XCTAssertNotNil(response.header("X-Request-Id"))
            let date = try XCTUnwrap(response.header("Date"))
            XCTAssertTrue(date.hasSuffix(" GMT") && date.count == 29, date)
        }
    }

    func testPipelinedRequestsAnswerInOrder() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /items/7 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "slow done")
        XCTAssertEqual(try client.readResponse().text, "item 7 q=")
        XCTAssertEqual(try client.readResponse().text, "abc")
        let last = try client.readResponse()
        XCTAssertEqual(last.status, 200)
        XCTAssertEqual(last.header("Connection"), "close")
        XCTAssertTrue(client.isClosedByServer())
    }

    /// More pipelined bytes than the server buffers while a handler runs:
    /// reading pauses and resumes, and every request is answered in order.
    func testDeepPipelineBehindSlowHandler() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        let count = 3000
        var pipeline = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        for index in 0..<count { pipeline += "GET /items/\(index) HTTP/1.1\r\nHost: x\r\n\r\n" }
        let wire = pipeline
        let sender = Thread { client.send(wire) }
        sender.start()
        XCTAssertEqual(try client.readResponse().text, "slow done")
        for index in 0..<count {
            let response = try client.readResponse()
            if response.text != "item \(index) q=" { return XCTFail("response \(index): \(response.text)") }
        }
    }

    /// A response bigger than the socket buffers, read slowly: the write
    /// source takes over and the whole body arrives intact.
    func testLargeResponseToSlowReader() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        client.send("GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(300_000)
        let response = try client.readResponse()
        client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200)
        XCTAssertEqual(response.body.count, 4 << 20)
        XCTAssertTrue(response.body.allSatisfy { $0 == 0x61 })
    }

    func testChunkedBodyWithTrailers() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "hello world")
    }

    func testExpectContinueGetsInterimResponse() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = try client.readResponse()
        XCTAssertEqual(interim.status, 100)
        client.send("data")
        let final = try client.readResponse()
        XCTAssertEqual(final.status, 200)
        XCTAssertEqual(final.text, "data")
    }

    func testExpectContinueWithTooLargeBodyIsRefusedBeforeTheBody() throws {
        var configuration = testConfiguration()
        configuration.limits.maxBodyBytes = 1000
        let (_, port) = try startServer(self, configuration: configuration)
        let client = try TestClient(port: port)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.header("Connection"), "close")
    }

    func testHeadHasLengthButNoBody() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        client.send("HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse(head: true)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Length"), "5000")
        // The next response on the connection starts right away: no body was sent.
        client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, #"{"status":"ok"}"#)
    }

    func testHTTP10ClosesUnlessKeepAliveAsked() throws {
        let (_, port) = try startServer(self)
        let plain = try TestClient(port: port)
        plain.send("GET /health HTTP/1.0\r\n\r\n")
        XCTAssertEqual(try plain.readResponse().header("Connection"), "close")
        XCTAssertTrue(plain.isClosedByServer())

        let keepAlive = try TestClient(port: port)
        keepAlive.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(try keepAlive.readResponse().header("Connection"), "keep-alive")
        keepAlive.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(try keepAlive.readResponse().status, 200)
    }

    func testNotFoundAndMethodNotAllowedUseErrorShape() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        client.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        let missing = try client.readResponse()
        XCTAssertEqual(missing.status, 404)
        let json = try JSONSerialization.jsonObject(with: Data(missing.body)) as? [String: [String: String]]
        XCTAssertEqual(json?["error"]?["code"], "not_found")
        XCTAssertNotNil(json?["error"]?["message"])
        client.send("DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let wrongMethod = try client.readResponse()
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.header("Allow"), "GET, HEAD")
    }

    func testImmediateHandlerRunsWithRoutingAndHead() throws {
        let logs = LogCollector()
        let (_, port) = try startServer(self, configuration: testConfiguration(logs: logs))
        let client = try TestClient(port: port)
        client.send("GET /ping/me HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "pong me id")
        client.send("HEAD /ping/me HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try client.readResponse(head: true)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), "10")
        client.send("POST /ping/me HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 405)
        client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200, "the connection still works after HEAD")
        XCTAssertTrue(eventually { logs.lines.count == 4 })
    }

    func testRequestIdEchoedOrGenerated() throws {
        let (_, port) = try startServer(self)
        let client = try TestClient(port: port)
        client.send("GET /request-id HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123\r\n\r\n")
        let echoed = try client.readResponse()
        XCTAssertEqual(echoed.header("X-Request-Id"), "abc-123")
        XCTAssertEqual(echoed.text, "abc-123")
        client.send("GET /request-id HTTP/1.1\r\nHost: x\r\nX-Request-Id: bad id with spaces\r\n\r\n")
        let generated = try client.readResponse()
        let id = try XCTUnwrap(generated.header("X-Request-Id"))
        XCTAssertNotEqual(id, "bad id with spaces")
        XCTAssertEqual(generated.text, id)
        client.send("GET /request-id HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertNotEqual(try client.readResponse().header("X-Request-Id"), id)
    }

    func testAccessLogLineIsJSONWithRequiredFields() throws {
        let logs = LogCollector()
        let (_, port) = try startServer(self, configuration: testConfiguration(logs: logs))
        let client = try TestClient(port: port)
        client.send("GET /items/9?q=a%20b HTTP/1.1\r\nHost: x\r\nX-Request-Id: log-1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "item 9 q=a b")
        XCTAssertTrue(eventually { logs.lines.count == 1 })
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(logs.lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(object["request_id"] as? String, "log-1")
        XCTAssertEqual(object["method"] as? String, "GET")
        XCTAssertEqual(object["path"] as? String, "/items/9")
        XCTAssertEqual(object["status"] as? Int, 200)
        XCTAssertEqual(object["bytes"] as? Int, "item 9 q=a b".utf8.count)
        XCTAssertNotNil(object["duration_ms"] as? Double)
        XCTAssertEqual(object["forwarded_for"] as? String, "10.0.0.1")
        XCTAssertTrue((object["remote"] as? String)?.hasPrefix("127.0.0.1:") ?? false)
    }

    func testMetricsHookSeesRoutePattern() throws {
        let seen = LogCollector()
        let server = HTTPServer(configuration: testConfiguration(), router: testRouter())
        server.onRequestComplete = { metrics in seen.append("\(metrics.method) \(metrics.route ?? "-") \(metrics.status)") }
        let port = try server.start()
        addTeardownBlock { await server.shutdown(gracePeriod: 1) }
        let client = try TestClient(port: port)
        client.send("GET /items/5 HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try client.readResponse()
        _ = try client.readResponse()
        XCTAssertTrue(eventually { seen.lines.count == 2 })
        XCTAssertEqual(seen.lines, ["GET /items/{id} 200", "GET - 404"])
    }

    func testExtraResponseHeadersOnEveryResponse() throws {
        var configuration = testConfiguration()
        configuration.extraResponseHeaders = { [("X-Model-Version", "v7")] }
        let (_, port) = try startServer(self, configuration: configuration)
        let client = try TestClient(port: port)
        client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().header("X-Model-Version"), "v7")
        let bad = try TestClient(port: port)
        bad.send("GET / HTTP/1.1\r\n\r\n")
        let refused = try bad.readResponse()
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(refused.header("X-Model-Version"), "v7")
    }
}
