import Foundation
import HTTP
import TestSupport
import XCTest

/// TLS with a self-signed certificate made by the `openssl` tool, checked
/// with `curl`. Skipped when either tool is missing.
final class TLSTests: XCTestCase {
    private func which(_ tool: String) -> String? {
        for directory in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/\(tool)") {
            return "\(directory)/\(tool)"
        }
        return nil
    }

    @discardableResult
    private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    private func makeCertificate() throws -> (certificate: String, key: String) {
        let openssl = try XCTUnwrap(which("openssl"), "openssl not installed: run scripts/install-test-deps")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let result = try run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                       "-days", "1", "-subj", "/CN=localhost"])
        XCTAssertEqual(result.status, 0)
        return (certificate, key)
    }

    func testCurlOverTLS() throws {
        let curl = try XCTUnwrap(which("curl"), "curl not installed: run scripts/install-test-deps")
        let (certificate, key) = try makeCertificate()
        var configuration = testConfiguration()
        configuration.tlsCertificatePath = certificate
        configuration.tlsKeyPath = key
        let (_, port) = try startServer(self, configuration: configuration)
        let url = "https://127.0.0.1:\(port)"
        // Two requests on one connection, a compressed one, and a POST body.
        let result = try run(curl, ["-sk", "--max-time", "10", "--http1.1",
                                    "\(url)/health", "\(url)/items/3?q=tls",
                                    "--compressed", "\(url)/big"])
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.output, #"{"status":"ok"}"# + "item 3 q=tls" + String(repeating: "ranksmith ", count: 500))
        let post = try run(curl, ["-sk", "--max-time", "10", "-X", "POST", "--data-binary", "secret body", "\(url)/echo"])
        XCTAssertEqual(post.output, "secret body")
        // Plain HTTP to the TLS port gets nothing useful, and the server survives it.
        let plain = try TestClient(port: port)
        plain.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(plain.isClosedByServer(timeout: 3))
        XCTAssertEqual(try run(curl, ["-sk", "--max-time", "10", "\(url)/health"]).output, #"{"status":"ok"}"#)
    }

    func testSilentTLSClientIsDroppedByHeaderTimeout() throws {
        let (certificate, key) = try makeCertificate()
        var configuration = testConfiguration()
        configuration.tlsCertificatePath = certificate
        configuration.tlsKeyPath = key
        configuration.timeouts.header = 0.3
        let (server, port) = try startServer(self, configuration: configuration)
        let silent = try TestClient(port: port)
        XCTAssertTrue(silent.isClosedByServer(timeout: 3))
        XCTAssertTrue(eventually { server.connectionCount == 0 })
    }

    func testBadCertificatePathFailsToStart() {
        var configuration = testConfiguration()
        configuration.tlsCertificatePath = "/nonexistent/cert.pem"
        configuration.tlsKeyPath = "/nonexistent/key.pem"
        XCTAssertThrowsError(try HTTPServer(configuration: configuration, router: Router()).start()) { error in
            XCTAssertTrue("\(error)".contains("certificate"))
        }
    }
}
