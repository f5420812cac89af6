#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Generator
import XCTest

/// A tiny HTTP/1.1 server on 127.0.0.1 for one test: answers each
/// connection with the next scripted response (plain POSIX sockets).
final class FakeLLMServer: @unchecked Sendable {
    struct Reply {
        var status: Int
        var body: String
        var headers: [String: String] = [:]
        var delay: Double = 0
    }

    let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var replies: [Reply]
    private(set) var requests: [String] = []
    private var thread: Thread?

    init(_ replies: [Reply]) throws {
        self.replies = replies
        (fd, port) = try Self.listenOnLoopback()
        let listener = fd
        let t = Thread { [unowned self] in
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { return }
                Thread { self.handle(c) }.start()
            }
        }
        thread = t
        t.start()
    }

    private static func listenOnLoopback() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0, listen(fd, 16) == 0 else { throw MissingTestInput("cannot listen on loopback") }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return (fd, UInt16(bigEndian: bound.sin_port))
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)/v1")! }

    private func handle(_ c: Int32) {
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        // Read headers, then Content-Length bytes of body.
        while true {
            let n = read(c, &buf, buf.count)
            if n <= 0 { break }
            data += buf[0..<n]
            let text = String(decoding: data, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let head = text[..<end.lowerBound].lowercased()
                var length = 0
                if let l = head.range(of: "content-length: ") {
                    length = Int(head[l.upperBound...].prefix { $0.isNumber }) ?? 0
                }
                if text.utf8.distance(from: end.upperBound.samePosition(in: text.utf8)!, to: text.utf8.endIndex) >= length { break }
            }
        }
        lock.lock()
        requests.append(String(decoding: data, as: UTF8.self))
        let reply = replies.isEmpty ? Reply(status: 500, body: "{}") : replies.removeFirst()
        lock.unlock()
        if reply.delay > 0 { usleep(UInt32(reply.delay * 1e6)) }
        var head = "HTTP/1.1 \(reply.status) X\r\nContent-Type: application/json\r\nContent-Length: \(reply.body.utf8.count)\r\nConnection: close\r\n"
        for (k, v) in reply.headers { head += "\(k): \(v)\r\n" }
        let bytes = Array((head + "\r\n" + reply.body).utf8)
        _ = bytes.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
        close(c)
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

final class RemoteChatClientTests: XCTestCase {
    static let ok = #"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2}}"#

    func testCompletesAndSendsOpenAIBody() async throws {
        let server = try FakeLLMServer([.init(status: 200, body: Self.ok)])
        defer { server.stop() }
        let client = RemoteChatClient(baseURL: server.url, model: "m", apiKey: "k", timeout: 5, retries: 0)
        let g = try await client.chat([ChatMessage(role: "user", content: "Capital of France?")],
                                      options: GenerationOptions(maxTokens: 7, stopStrings: ["\n"]))
        XCTAssertEqual(g.text, "Paris.")
        XCTAssertEqual(g.finishReason, .endOfGeneration)
        XCTAssertEqual(g.promptTokens, 12)
        let req = server.requests.first ?? ""
        XCTAssertTrue(req.hasPrefix("POST /v1/chat/completions"))
        XCTAssertTrue(req.contains("Bearer k"))
        XCTAssertTrue(req.contains("\"max_tokens\":7"))
        XCTAssertTrue(req.contains("Capital of France?"))
    }

    func testRetriesServerErrorsThenSucceeds() async throws {
        let server = try FakeLLMServer([
            .init(status: 503, body: #"{"error":{"message":"loading"}}"#),
            .init(status: 429, body: "{}", headers: ["Retry-After": "0"]),
            .init(status: 200, body: Self.ok),
        ])
        defer { server.stop() }
        let client = RemoteChatClient(baseURL: server.url, model: "m", timeout: 5, retries: 3, initialBackoff: 0.01)
        let g = try await client.chat([ChatMessage(role: "user", content: "hi")], options: GenerationOptions())
        XCTAssertEqual(g.text, "Paris.")
        XCTAssertEqual(server.requests.count, 3)
    }

    func testClientErrorsAreNotRetried() async throws {
        let server = try FakeLLMServer([.init(status: 400, body: #"{"error":{"message":"bad model"}}"#)])
        defer { server.stop() }
        let client = RemoteChatClient(baseURL: server.url, model: "m", timeout: 5, retries: 3, initialBackoff: 0.01)
        do {
            _ = try await client.chat([ChatMessage(role: "user", content: "hi")], options: GenerationOptions())
            XCTFail("expected an error")
        } catch let e as RemoteChatError {
            XCTAssertEqual(e, .http(status: 400, message: "bad model"))
        }
        XCTAssertEqual(server.requests.count, 1)
    }

    func testAnErrorBodyIsSummarisedNeverEchoed() async throws {
        let page = "<html><body>Forbidden: internal admin page " + String(repeating: "x", count: 3000) + " SECRET-MARKER</body></html>"
        let server = try FakeLLMServer([.init(status: 403, body: page)])
        defer { server.stop() }
        let client = RemoteChatClient(baseURL: server.url, model: "m", timeout: 5, retries: 0)
        do {
            _ = try await client.chat([ChatMessage(role: "user", content: "hi")], options: GenerationOptions())
            XCTFail("expected an error")
        } catch let RemoteChatError.http(status, message) {
            XCTAssertEqual(status, 403)
            XCTAssertFalse(message.contains("<") || message.contains("SECRET-MARKER"), message)
            XCTAssertTrue(message.hasPrefix("html body Forbidden: internal admin page"), message)
            XCTAssertLessThan(message.count, 100, message)
            XCTAssertTrue(message.contains("bytes in all"), message)
        }
    }

    func testTimeoutAndInvalidBodyAndGuidance() async throws {
        let server = try FakeLLMServer([.init(status: 200, body: Self.ok, delay: 1.5)])
        defer { server.stop() }
        let client = RemoteChatClient(baseURL: server.url, model: "m", timeout: 0.5, retries: 0)
        let t0 = Date()
        defer { XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.45) }
        do {
            _ = try await client.chat([ChatMessage(role: "user", content: "hi")], options: GenerationOptions())
            XCTFail("expected a timeout")
        } catch let e as RemoteChatError {
            guard case .timeout = e else { return XCTFail("\(e)") }
        }
        let other = try FakeLLMServer([.init(status: 200, body: "not json")])
        defer { other.stop() }
        let client2 = RemoteChatClient(baseURL: other.url, model: "m", timeout: 5, retries: 0)
        do {
            _ = try await client2.chat([ChatMessage(role: "user", content: "hi")], options: GenerationOptions())
            XCTFail("expected invalid response")
        } catch let e as RemoteChatError {
            guard case .invalidResponse = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try client.requestBody([], options: GenerationOptions(guidanceScale: 1.5)))
    }

    func testSlowButInTimeAnswerSucceeds() async throws {
        let server = try FakeLLMServer([.init(status: 200, body: Self.ok, delay: 0.3)])
        defer { server.stop() }
        let client = RemoteChatClient(baseURL: server.url, model: "m", timeout: 5, retries: 0)
        let t0 = Date()
        let g = try await client.chat([ChatMessage(role: "user", content: "hi")], options: GenerationOptions())
        XCTAssertEqual(g.text, "Paris.")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.25)
    }

    func testUnreachableServerIsANetworkError() async throws {
        let client = RemoteChatClient(baseURL: URL(string: "http://127.0.0.1:1/v1")!, model: "m", timeout: 2, retries: 1, initialBackoff: 0.01)
        do {
            _ = try await client.chat([ChatMessage(role: "user", content: "hi")], options: GenerationOptions())
            XCTFail("expected an error")
        } catch let e as RemoteChatError {
            guard case .network = e else { return XCTFail("\(e)") }
        }
    }
}
