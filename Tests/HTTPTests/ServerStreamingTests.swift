import Foundation
import HTTP
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - A stream that records how it is used

/// Produces `total` bytes (byte i is `i % 251`) on demand and records how
/// far ahead of the client the server pulled it.
final class ProbeStream: HTTPBodyStream, @unchecked Sendable {
    private let lock = NSLock()
    let total: Int
    let failAfter: Int?
    private var _produced = 0
    private var _largestLimit = 0
    private var _calls = 0
    private var _closed = 0

    init(total: Int, failAfter: Int? = nil) {
        self.total = total
        self.failAfter = failAfter
    }

    struct Failure: Error {}

    func next(limit: Int) throws -> [UInt8]? {
        lock.lock(); defer { lock.unlock() }
        _calls += 1
        _largestLimit = max(_largestLimit, limit)
        if let failAfter, _produced >= failAfter { throw Failure() }
        guard _produced < total else { return nil }
        let count = min(limit, total - _produced)
        let piece = (_produced..<(_produced + count)).map { UInt8($0 % 251) }
        _produced += count
        return piece
    }

    func close() { lock.lock(); _closed += 1; lock.unlock() }

    var produced: Int { lock.lock(); defer { lock.unlock() }; return _produced }
    var largestLimit: Int { lock.lock(); defer { lock.unlock() }; return _largestLimit }
    var calls: Int { lock.lock(); defer { lock.unlock() }; return _calls }
    var closeCount: Int { lock.lock(); defer { lock.unlock() }; return _closed }

    static func expected(_ count: Int) -> [UInt8] { (0..<count).map { UInt8($0 % 251) } }
}

/// Hands out the streams the router's `/stream/{bytes}` route answers with.
final class StreamShelf: @unchecked Sendable {
    private let lock = NSLock()
    private var made: [ProbeStream] = []
    var failAfter: Int?
    func make(_ total: Int) -> ProbeStream {
        lock.lock(); defer { lock.unlock() }
        let stream = ProbeStream(total: total, failAfter: failAfter)
        made.append(stream)
        return stream
    }
    var last: ProbeStream? { lock.lock(); defer { lock.unlock() }; return made.last }
}

/// Streamed response bodies over real sockets: chunked framing, HTTP/1.0,
/// HEAD, no gzip, keep-alive after a stream, backpressure from a client
/// that stops reading, a client that leaves, errors and shutdown mid-stream.
final class ServerStreamingTests: XCTestCase {
    private func streamingServer(_ shelf: StreamShelf, configuration: HTTPServerConfiguration = testConfiguration(),
                                 file: String? = nil) throws -> (HTTPServer, Int) {
        var router = testRouter()
        router.get("/stream/{bytes}") { request in
            let stream = shelf.make(Int(request.pathParameters["bytes"] ?? "") ?? 0)
            return HTTPResponse(headers: ["Content-Type": "application/x-ndjson"], stream: stream)
        }
        if let file {
            router.get("/file") { _ in
                do {
                    return HTTPResponse(stream: try FileBodyStream(path: file, wholeLinesOnly: true))
                } catch {
                    return .error(status: 500, code: "file", message: "\(error)")
                }
            }
        }
        return try startServer(self, configuration: configuration, router: router)
    }

    func testStreamedBodyIsChunkedAndTheConnectionStaysOpen() throws {
        let logs = LogCollector()
        let shelf = StreamShelf()
        let (_, port) = try streamingServer(shelf, configuration: testConfiguration(logs: logs))
        let client = try TestClient(port: port)
        // Two pipelined requests: the stream, then a plain one on the same connection.
        client.send("GET /stream/200000 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Transfer-Encoding"), "chunked")
        XCTAssertNil(response.header("Content-Length"))
        XCTAssertNil(response.header("Content-Encoding"), "streams are never compressed")
        XCTAssertNil(response.header("Connection"))
        XCTAssertEqual(response.header("Content-Type"), "application/x-ndjson")
        XCTAssertEqual(response.body, ProbeStream.expected(200_000))
        XCTAssertGreaterThan(response.chunkSizes.count, 1)
        XCTAssertTrue(response.chunkSizes.allSatisfy { $0 > 0 && $0 <= 64 * 1024 }, "\(response.chunkSizes)")
        XCTAssertEqual(try client.readResponse().text, #"{"status":"ok"}"#)
        // Keep-alive after both.
        client.send("GET /stream/10 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().body, ProbeStream.expected(10))
        XCTAssertTrue(eventually { shelf.last?.closeCount == 1 })
        // The access log has the body bytes sent, once the stream ended.
        XCTAssertTrue(eventually { logs.lines.contains { $0.contains(#""path":"/stream/200000""#) } })
        let line = try XCTUnwrap(logs.lines.first { $0.contains(#""path":"/stream/200000""#) })
        XCTAssertTrue(line.contains(#""status":200,"bytes":200000,"#), line)
    }

    func testEmptyStreamIsOneLastChunk() throws {
        let (_, port) = try streamingServer(StreamShelf())
        let client = try TestClient(port: port)
        client.send("GET /stream/0 HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.header("Transfer-Encoding"), "chunked")
        XCTAssertEqual(response.body, [])
        XCTAssertEqual(response.chunkSizes, [])
    }

    func testHTTP10ClientGetsACloseDelimitedBody() throws {
        let (_, port) = try streamingServer(StreamShelf())
        let client = try TestClient(port: port)
        client.send("GET /stream/100000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertNil(response.header("Transfer-Encoding"), "HTTP/1.0 has no chunked coding")
        XCTAssertNil(response.header("Content-Length"))
        XCTAssertEqual(response.header("Connection"), "close", "the body ends where the connection does")
        XCTAssertEqual(response.body, ProbeStream.expected(100_000))
    }

    func testHeadSendsTheHeadersOfGetAndNeverPullsTheStream() throws {
        let shelf = StreamShelf()
        let (_, port) = try streamingServer(shelf)
        let client = try TestClient(port: port)
        client.send("HEAD /stream/5000 HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse(head: true)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Transfer-Encoding"), "chunked")
        XCTAssertNil(response.header("Content-Length"))
        let stream = try XCTUnwrap(shelf.last)
        XCTAssertEqual(stream.calls, 0)
        XCTAssertEqual(stream.closeCount, 1)
        // Nothing of a body follows: the next response is the next request's.
        client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, #"{"status":"ok"}"#)
    }

    /// A client that stops reading stops the pulls: the server holds at
    /// most one piece (no larger than the unsent budget) however large the
    /// body; reading again finishes the body intact.
    func testAClientThatStopsReadingStopsThePulls() throws {
        var configuration = testConfiguration()
        configuration.limits.maxUnsentBytes = 16 * 1024
        configuration.timeouts.write = 10
        let shelf = StreamShelf()
        let (server, port) = try streamingServer(shelf, configuration: configuration)
        let total = 64 << 20
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        XCTAssertEqual(withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }, 0)
        let request = Array("GET /stream/\(total) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        XCTAssertEqual(request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }, request.count)
        // Read nothing: the pulls stop once the socket buffers are full.
        XCTAssertTrue(eventually { (shelf.last?.produced ?? 0) > 0 })
        var stalled = -1
        for _ in 0..<50 {
            usleep(100_000)
            let now = shelf.last?.produced ?? 0
            if now == stalled { break }
            stalled = now
        }
        let stream = try XCTUnwrap(shelf.last)
        XCTAssertEqual(stream.produced, stalled, "the server kept pulling for a client that reads nothing")
        XCTAssertLessThan(stalled, total / 4, "pulled far ahead of the client")
        XCTAssertLessThanOrEqual(stream.largestLimit, 16 * 1024, "a piece is never larger than the unsent budget")
        XCTAssertLessThanOrEqual(server.unsentResponseBytes, 16 * 1024 + 16, "one piece and its framing at most")
        // Now read it all, slowly enough to keep the server waiting on us.
        var received = 0
        var headSkipped = false
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var highWater = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += n
            highWater = max(highWater, server.unsentResponseBytes)
            if !headSkipped {
                pending.append(contentsOf: buffer[0..<n])
                if let end = pending.indices.dropLast(3).first(where: { pending[$0] == 13 && pending[$0 + 1] == 10 && pending[$0 + 2] == 13 && pending[$0 + 3] == 10 }) {
                    headSkipped = true
                    XCTAssertTrue(String(decoding: pending[0..<end], as: UTF8.self).contains("Transfer-Encoding: chunked"))
                }
            }
            // The last chunk ends the body.
            if n >= 5 && Array(buffer[(n - 5)..<n]) == ResponseTail.last { break }
        }
        XCTAssertGreaterThan(received, total, "the whole body and its framing arrived")
        XCTAssertEqual(stream.produced, total)
        XCTAssertLessThanOrEqual(highWater, 16 * 1024 + 16)
        XCTAssertTrue(eventually { stream.closeCount == 1 && server.unsentResponseBytes == 0 })
    }

    func testAClientThatLeavesMidStreamFreesTheStreamAndItsFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("lines.jsonl").path
        let line = Array(#"{"anchor":"a line of the dataset","list":["x","y","z"]}"#.utf8) + [10]
        var bytes: [UInt8] = []
        for _ in 0..<(8 << 20) / line.count { bytes += line }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let logs = LogCollector()
        let shelf = StreamShelf()
        let (server, port) = try streamingServer(shelf, configuration: testConfiguration(logs: logs), file: path)
        // Warm the server up so the descriptor count is stable.
        XCTAssertEqual(try TestClient(requestsTo: port).request("GET", "/health").status, 200)
        XCTAssertTrue(eventually { server.connectionCount == 0 })
        let descriptors = openFileDescriptorCount()
        for target in ["/file", "/stream/\(64 << 20)"] {
            let client = try TestClient(port: port)
            client.send("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
            var chunk = [UInt8](repeating: 0, count: 65536)
            XCTAssertGreaterThan(chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }, 0)
            var reset = linger(l_onoff: 1, l_linger: 0)   // a reset, as a client killed mid-read
            setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
        }
        XCTAssertTrue(eventually { server.connectionCount == 0 })
        XCTAssertTrue(eventually { shelf.last?.closeCount == 1 })
        XCTAssertTrue(eventually { openFileDescriptorCount() == descriptors }, "the file is closed when its client leaves")
        XCTAssertTrue(eventually { server.unsentResponseBytes == 0 })
        // Logged with the bytes that went out, fewer than the body's.
        XCTAssertTrue(eventually { logs.lines.contains { $0.contains(#""path":"/stream/"#) } })
        let logged = try XCTUnwrap(logs.lines.first { $0.contains(#""path":"/stream/"#) })
        XCTAssertTrue(logged.contains(#""status":200"#), logged)
        // The server still answers, and the file streams whole when read to the end.
        let whole = try TestClient(requestsTo: port).request("GET", "/file")
        XCTAssertEqual(whole.body, bytes)
        XCTAssertEqual(whole.header("Transfer-Encoding"), "chunked")
    }

    func testAnErrorMidStreamEndsTheBodyWithoutItsLastChunk() throws {
        let shelf = StreamShelf()
        shelf.failAfter = 100_000
        let (_, port) = try streamingServer(shelf)
        let client = try TestClient(port: port)
        client.send("GET /stream/1000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertThrowsError(try client.readResponse(), "an incomplete chunked body must not look complete")
        XCTAssertTrue(eventually { shelf.last?.closeCount == 1 })
    }

    func testShutdownWithAStreamInFlightReturnsAndClosesTheStream() throws {
        let shelf = StreamShelf()
        let (server, port) = try streamingServer(shelf)
        let client = try TestClient(port: port)
        client.send("GET /stream/\(256 << 20) HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(eventually { (shelf.last?.produced ?? 0) > 0 })
        let done = expectation(description: "shutdown returned")
        let started = Date()
        Task {
            await server.shutdown(gracePeriod: 0.3)
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
        XCTAssertLessThan(Date().timeIntervalSince(started), 6)
        XCTAssertEqual(shelf.last?.closeCount, 1)
        XCTAssertEqual(server.connectionCount, 0)
        XCTAssertEqual(server.unsentResponseBytes, 0)
    }

    func testAStreamThatEndsWithinTheDrainIsSentWholeThenClosed() throws {
        let shelf = StreamShelf()
        let (server, port) = try streamingServer(shelf)
        let client = try TestClient(port: port)
        client.send("GET /stream/\(4 << 20) HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(eventually { (shelf.last?.produced ?? 0) > 0 })
        let done = expectation(description: "shutdown returned")
        Task {
            await server.shutdown(gracePeriod: 5)
            done.fulfill()
        }
        let response = try client.readResponse()
        XCTAssertEqual(response.body.count, 4 << 20)
        XCTAssertEqual(response.body, ProbeStream.expected(4 << 20))
        XCTAssertTrue(client.isClosedByServer())
        wait(for: [done], timeout: 10)
    }
}

/// The bytes that end a chunked body.
enum ResponseTail {
    static let last: [UInt8] = Array("0\r\n\r\n".utf8)
}

// MARK: - FileBodyStream

final class FileBodyStreamTests: XCTestCase {
    func testWholeLinesOnlyStopsAtTheLastNewlineOfTheSizeAtOpen() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lines-\(UUID().uuidString)").path
        defer { unlink(path) }
        // Lines spanning more than one 64 KiB block, and a torn last line.
        var text = ""
        for i in 0..<3000 { text += #"{"n":\#(i),"pad":"\#(String(repeating: "p", count: 40))"}"# + "\n" }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data((text + #"{"n":"torn"#).utf8)))
        let stream = try FileBodyStream(path: path, wholeLinesOnly: true)
        XCTAssertEqual(stream.length, text.utf8.count)
        // Growth after opening is not sent.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("\"}\nmore\n".utf8))
        handle.closeFile()
        var out: [UInt8] = []
        while let piece = try stream.next(limit: 10_000) {
            XCTAssertLessThanOrEqual(piece.count, 10_000)
            out += piece
        }
        stream.close()
        XCTAssertEqual(String(decoding: out, as: UTF8.self), text)
        XCTAssertNil(try stream.next(limit: 10), "closed: nothing more")

        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("no newline yet".utf8)))
        XCTAssertEqual(try FileBodyStream(path: path, wholeLinesOnly: true).length, 0)
        XCTAssertEqual(try FileBodyStream(path: path).length, 14)
        XCTAssertThrowsError(try FileBodyStream(path: path + ".missing")) { error in
            XCTAssertEqual(error as? FileBodyStream.OpenError, .missing)
        }
        XCTAssertThrowsError(try FileBodyStream(path: FileManager.default.temporaryDirectory.path))
    }
}
