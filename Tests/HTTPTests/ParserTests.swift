import HTTP
import Numerics
import XCTest

/// Table-driven tests of the pure parser: every truncation of every shape,
/// pipelining split at every offset, each refusal with its status, and a
/// seeded random-mutation run comparing whole-buffer and piecewise parsing.
final class ParserTests: XCTestCase {
    /// A request shape and what the parser must make of it.
    struct Shape {
        var wire: String
        var method: String
        var target: String
        var body: String
        var keepAlive: Bool = true
        var expectsContinue: Bool = false
    }

    static let shapes: [Shape] = [
        Shape(wire: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/", body: ""),
        Shape(wire: "GET /search?q=a%20b&x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1.0\r\nAccept: */*\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
              method: "GET", target: "/search?q=a%20b&x=1", body: ""),
        Shape(wire: "POST /embed HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"inputs\":\"\"}",
              method: "POST", target: "/embed", body: "{\"inputs\":\"\"}"),
        Shape(wire: "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"q\"\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
              method: "POST", target: "/e", body: "helloabcdefghijklmnopqrstuvwxyz"),
        Shape(wire: "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", method: "POST", target: "/e", body: ""),
        Shape(wire: "GET /old HTTP/1.0\r\n\r\n", method: "GET", target: "/old", body: "", keepAlive: false),
        Shape(wire: "GET /old HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", method: "GET", target: "/old", body: ""),
        Shape(wire: "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", method: "GET", target: "/", body: "", keepAlive: false),
        Shape(wire: "\r\n\r\nGET /after-blank-lines HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/after-blank-lines", body: ""),
        Shape(wire: "GET http://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", method: "GET", target: "/p?q=1", body: ""),
        Shape(wire: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", method: "OPTIONS", target: "*", body: ""),
        Shape(wire: "POST /empty HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", method: "POST", target: "/empty", body: ""),
        Shape(wire: "PUT /dup HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\ncontent-length: 2, 2\r\n\r\nok", method: "PUT", target: "/dup", body: "ok"),
        Shape(wire: "POST /c HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
              method: "POST", target: "/c", body: "x", expectsContinue: true),
        Shape(wire: "GET /obs HTTP/1.1\r\nHost: a\r\nX-Latin: caf\u{E9}\r\n\r\n", method: "GET", target: "/obs", body: ""),
    ]

    private func check(_ request: HTTPParsedRequest, _ shape: Shape, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(request.method, shape.method, file: file, line: line)
        XCTAssertEqual(request.target, shape.target, file: file, line: line)
        XCTAssertEqual(String(decoding: request.body, as: UTF8.self), shape.body, file: file, line: line)
        XCTAssertEqual(request.keepAlive, shape.keepAlive, file: file, line: line)
        XCTAssertEqual(request.expectsContinue, shape.expectsContinue, file: file, line: line)
    }

    // MARK: - Whole and truncated

    func testEveryShapeParsesWhole() {
        for shape in Self.shapes {
            var parser = HTTPRequestParser()
            let bytes = Array(shape.wire.utf8)
            guard case .complete(let request, let consumed) = parser.parse(bytes) else {
                return XCTFail("not complete: \(shape.wire.debugDescription)")
            }
            XCTAssertEqual(consumed, bytes.count)
            check(request, shape)
        }
    }

    func testHeadersKeepOrderAndCase() {
        var parser = HTTPRequestParser()
        guard case .complete(let request, _) = parser.parse(Array(Self.shapes[1].wire.utf8)) else { return XCTFail() }
        XCTAssertEqual(request.headers.fields.map(\.name), ["Host", "User-Agent", "Accept", "X-Empty", "X-Tab"])
        XCTAssertEqual(request.headers["user-agent"], "t/1.0")
        XCTAssertEqual(request.headers["x-empty"], "")
        XCTAssertEqual(request.headers["X-TAB"], "v")
    }

    /// Every proper prefix is incomplete, both to a fresh parser and to one
    /// parser fed one more byte at a time; the full request then completes.
    func testEveryTruncationByteByByte() {
        for shape in Self.shapes {
            let bytes = Array(shape.wire.utf8)
            var incremental = HTTPRequestParser()
            for length in 0..<bytes.count {
                var fresh = HTTPRequestParser()
                guard case .incomplete = fresh.parse(Array(bytes[0..<length])) else {
                    return XCTFail("prefix \(length) of \(shape.wire.debugDescription) not incomplete (fresh)")
                }
                guard case .incomplete = incremental.parse(Array(bytes[0..<length])) else {
                    return XCTFail("prefix \(length) of \(shape.wire.debugDescription) not incomplete (incremental)")
                }
            }
            guard case .complete(let request, let consumed) = incremental.parse(bytes) else {
                return XCTFail("full \(shape.wire.debugDescription) not complete")
            }
            XCTAssertEqual(consumed, bytes.count)
            check(request, shape)
        }
    }

    // MARK: - Pipelining

    /// Feeds `chunks` like a connection would; returns the requests and whether an error came.
    private func parseStream(_ chunks: [[UInt8]]) -> (requests: [HTTPParsedRequest], error: HTTPParseError?, leftover: Int) {
        var parser = HTTPRequestParser()
        var buffer: [UInt8] = []
        var requests: [HTTPParsedRequest] = []
        for chunk in chunks {
            buffer += chunk
            while !buffer.isEmpty {
                switch parser.parse(buffer) {
                case .complete(let request, let consumed):
                    requests.append(request)
                    buffer.removeFirst(consumed)
                    continue
                case .incomplete:
                    break
                case .invalid(let error):
                    return (requests, error, buffer.count)
                }
                break
            }
        }
        return (requests, nil, buffer.count)
    }

    func testPipelinedPairsSplitAtEveryOffset() {
        for first in Self.shapes {
            for second in Self.shapes.prefix(6) {
                let stream = Array((first.wire + second.wire).utf8)
                for split in 0...stream.count {
                    let result = parseStream([Array(stream[0..<split]), Array(stream[split...])])
                    XCTAssertNil(result.error)
                    XCTAssertEqual(result.leftover, 0)
                    guard result.requests.count == 2 else {
                        return XCTFail("split \(split) of \((first.wire + second.wire).debugDescription): \(result.requests.count) requests")
                    }
                    check(result.requests[0], first)
                    check(result.requests[1], second)
                }
            }
        }
    }

    func testThreePipelinedRequestsOneByteAtATime() {
        let stream = Array((Self.shapes[2].wire + Self.shapes[3].wire + Self.shapes[0].wire).utf8)
        let result = parseStream(stream.map { [$0] })
        XCTAssertNil(result.error)
        XCTAssertEqual(result.requests.map(\.target), ["/embed", "/e", "/"])
    }

    // MARK: - Refusals

    static let refusals: [(String, Int)] = [
        // Smuggling shapes.
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
        ("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
        ("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        // Chunked framing.
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\n", 400),
        // Request line.
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
        ("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/11\r\nHost: a\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /\r\nHost: a\r\n\r\n", 400),
        ("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a\u{7F}b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("\0GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        // Headers.
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n: empty-name\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{1}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX(y): a\r\n\r\n", 400),
        // Methods that need a length; expectations.
        ("POST / HTTP/1.1\r\nHost: a\r\n\r\n", 411),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 200-ok\r\n\r\nx", 417),
        // Limits (default limits: 16 KiB head, 8 KiB target, 100 headers, 8 MiB body).
        ("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 17_000) + "\r\n\r\n", 431),
        ("GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X: v\r\n", count: 101) + "\r\n", 431),
        ("GET /" + String(repeating: "p", count: 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        ("GET /" + String(repeating: "p", count: 20_000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9000000\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n900000\r\n", 413),
    ]

    func testEachRefusalHasItsStatus() {
        for (wire, status) in Self.refusals {
            var parser = HTTPRequestParser()
            guard case .invalid(let error) = parser.parse(Array(wire.utf8)) else {
                XCTFail("accepted: \(wire.prefix(120).debugDescription)")
                continue
            }
            XCTAssertEqual(error.status, status, "\(wire.prefix(120).debugDescription) → \(error)")
            XCTAssertFalse(error.message.isEmpty)
            // The same bytes one at a time reach the same verdict.
            var incremental = HTTPRequestParser()
            let bytes = Array(wire.utf8)
            var verdict: HTTPParseError?
            for length in 1...bytes.count {
                if case .invalid(let error) = incremental.parse(Array(bytes[0..<length])) { verdict = error; break }
            }
            XCTAssertEqual(verdict?.status, status, "byte by byte: \(wire.prefix(120).debugDescription)")
        }
    }

    func testChunkedBodyOverLimitAcrossChunks() {
        var parser = HTTPRequestParser(limits: .init(maxBodyBytes: 10))
        let wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"
        guard case .invalid(let error) = parser.parse(Array(wire.utf8)) else { return XCTFail() }
        XCTAssertEqual(error, .bodyTooLarge)
    }

    func testInvalidIsSticky() {
        var parser = HTTPRequestParser()
        guard case .invalid = parser.parse(Array("GET / HTTP/1.1\nHost: a\r\n\r\n".utf8)) else { return XCTFail() }
        guard case .invalid = parser.parse(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)) else { return XCTFail() }
    }

    func testPendingHeadAppearsBeforeBody() {
        var parser = HTTPRequestParser()
        let head = "POST /c HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        guard case .incomplete = parser.parse(Array(head.utf8)) else { return XCTFail() }
        XCTAssertEqual(parser.pendingHead?.expectsContinue, true)
        guard case .complete(let request, _) = parser.parse(Array((head + "hello").utf8)) else { return XCTFail() }
        XCTAssertEqual(request.body, Array("hello".utf8))
        XCTAssertNil(parser.pendingHead)
    }

    // MARK: - Seeded random mutation

    /// Mutated requests never trap, `consumed` stays in range, and parsing
    /// in random pieces agrees with parsing at once (same outcomes).
    func testSeededRandomMutationsAgreeWholeAndPiecewise() {
        var random = SplitMix64(seed: 0x5EED_1234)
        let interesting: [UInt8] = [13, 10, 32, 9, 0, 58, 59, 44, 48, 49, 102, 255, 127, 0x41]
        let limits = HTTPRequestParser.Limits(maxHeaderBytes: 512, maxTargetBytes: 64, maxHeaderCount: 8, maxBodyBytes: 64)
        for _ in 0..<20_000 {
            var bytes = Array(Self.shapes[Int(random.next() % UInt64(Self.shapes.count))].wire.utf8)
            bytes += Array(Self.shapes[Int(random.next() % UInt64(Self.shapes.count))].wire.utf8)
            for _ in 0..<(1 + random.next() % 4) {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[position] = interesting[Int(random.next() % UInt64(interesting.count))]
                case 1: bytes.insert(interesting[Int(random.next() % UInt64(interesting.count))], at: position)
                case 2: bytes.remove(at: position)
                default: bytes[position] ^= UInt8(1 << (random.next() % 8))
                }
                if bytes.isEmpty { bytes = [65] }
            }
            let whole = outcomes(bytes, limits: limits, step: bytes.count)
            let step = Int(1 + random.next() % 9)
            let pieces = outcomes(bytes, limits: limits, step: step)
            XCTAssertEqual(whole, pieces, "step \(step): \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            if whole != pieces { return }
        }
    }

    private func outcomes(_ bytes: [UInt8], limits: HTTPRequestParser.Limits, step: Int) -> [String] {
        var chunks: [[UInt8]] = []
        var index = 0
        while index < bytes.count {
            chunks.append(Array(bytes[index..<min(bytes.count, index + step)]))
            index += step
        }
        var parser = HTTPRequestParser(limits: limits)
        var buffer: [UInt8] = []
        var result: [String] = []
        for chunk in chunks {
            buffer += chunk
            while !buffer.isEmpty {
                switch parser.parse(buffer) {
                case .complete(let request, let consumed):
                    XCTAssertTrue(consumed > 0 && consumed <= buffer.count)
                    XCTAssertLessThanOrEqual(request.body.count, limits.maxBodyBytes)
                    result.append("\(request.method) \(request.target) \(request.body.count) \(request.keepAlive)")
                    buffer.removeFirst(consumed)
                    continue
                case .incomplete:
                    break
                case .invalid(let error):
                    result.append("invalid \(error.status)")
                    return result
                }
                break
            }
        }
        result.append(buffer.isEmpty ? "end" : "incomplete")
        return result
    }
}
