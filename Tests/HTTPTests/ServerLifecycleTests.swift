import Foundation
import HTTP
import Numerics
import XCTest
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// Slow clients, cancellation, descriptor hygiene, graceful shutdown, signals.
final class ServerLifecycleTests: XCTestCase {
    /// Hundreds of idle and trickling connections hold no worker: a normal
    /// request still answers promptly, and all of them are cleaned up.
    func testSlowClientsDoNotDelayOthers() throws {
        var configuration = testConfiguration()
        configuration.timeouts.header = 3
        let (server, port) = try startServer(self, configuration: configuration)
        // Each slow client costs two descriptors here (client and server side).
        let slowClients = min(400, (raiseDescriptorLimit() - openFileDescriptorCount() - 64) / 2)
        XCTAssertGreaterThanOrEqual(slowClients, 200, "descriptor limit too low for this test")
        let descriptorsBefore = openFileDescriptorCount()
        var idle: [TestClient] = []
        var trickling: [TestClient] = []
        for index in 0..<slowClients {
            let client = try TestClient(port: port)
            if index % 2 == 0 {
                idle.append(client)
            } else {
                client.send("GET /health HTTP/1.1\r\nHo")
                trickling.append(client)
            }
        }
        XCTAssertTrue(eventually { server.connectionCount == slowClients })
        for round in 0..<3 {
            for client in trickling { client.send(round == 0 ? "s" : "t") }
            let started = Date()
            let normal = try TestClient(port: port)
            normal.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try normal.readResponse().status, 200)
            // Generous for a loaded 2-core machine; unloaded it takes about a millisecond.
            XCTAssertLessThan(Date().timeIntervalSince(started), 1.0, "a normal request waited behind slow clients")
            usleep(100_000)
        }
        // The header timeout ends every slow connection (408 for the tricklers).
        XCTAssertTrue(eventually(timeout: 10) { server.connectionCount == 0 }, "\(server.connectionCount) still open")
        XCTAssertEqual(try trickling[0].readResponse().status, 408)
        idle.removeAll()
        trickling.removeAll()
        XCTAssertTrue(eventually { openFileDescriptorCount() <= descriptorsBefore })
    }

    func testNoDescriptorLeakAcrossManyConnections() throws {
        let (server, port) = try startServer(self)
        let before = openFileDescriptorCount()
        for index in 0..<200 {
            let client = try TestClient(port: port)
            switch index % 4 {
            case 0:
                client.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                _ = try client.readResponse()
            case 1:
                client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try client.readResponse()
            case 2:
                client.send("GET /bad\nrequest")
            default:
                client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
            }
        }
        XCTAssertTrue(eventually { server.connectionCount == 0 }, "\(server.connectionCount) still open")
        XCTAssertTrue(eventually { openFileDescriptorCount() <= before }, "fds \(before) → \(openFileDescriptorCount())")
    }

    /// Garbage, truncated and mutated requests with abrupt disconnects: the
    /// server keeps answering, and every connection and descriptor goes away.
    func testRandomBytesAndAbruptClosesOverSockets() throws {
        var configuration = testConfiguration()
        configuration.timeouts.header = 0.5
        configuration.timeouts.body = 0.5
        let (server, port) = try startServer(self, configuration: configuration)
        let before = openFileDescriptorCount()
        var random = SplitMix64(seed: 7)
        let shapes = ParserTests.shapes.map { Array($0.wire.utf8) }
        var kept: [TestClient] = []
        for _ in 0..<300 {
            let client = try TestClient(port: port, timeout: 0.2)
            var bytes = shapes[Int(random.next() % UInt64(shapes.count))]
            for _ in 0..<(random.next() % 6) {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                default: bytes.removeSubrange(position..<min(bytes.count, position + Int(random.next() % 8)))
                }
                if bytes.isEmpty { bytes = [0x47] }
            }
            let cut = Int(random.next() % UInt64(bytes.count + 1))
            client.send(Array(bytes[0..<cut]))
            // Some stay open (to meet the timeouts), the rest close at once.
            if random.next() % 4 == 0 { kept.append(client) }
        }
        let check = try TestClient(port: port)
        check.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try check.readResponse().status, 200)
        XCTAssertTrue(eventually(timeout: 5) { server.connectionCount <= 1 }, "\(server.connectionCount) still open")
        kept.removeAll()
        XCTAssertTrue(eventually { openFileDescriptorCount() <= before + 2 })
    }

    func testDisconnectCancelsHandler() throws {
        let probe = HandlerProbe()
        let (server, port) = try startServer(self, router: testRouter(probe: probe))
        do {
            let client = try TestClient(port: port)
            client.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertTrue(eventually { probe.started == 1 })
        }
        XCTAssertTrue(eventually { probe.cancelled == 1 }, "handler not cancelled after disconnect")
        XCTAssertTrue(eventually { server.connectionCount == 0 })
    }

    func testGracefulShutdownFinishesInFlightAndRefusesNew() async throws {
        let server = HTTPServer(configuration: testConfiguration(), router: testRouter())
        let port = try server.start()
        let busy = try TestClient(port: port)
        busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        let idle = try TestClient(port: port)
        idle.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try idle.readResponse().status, 200)
        try await Task.sleep(nanoseconds: 50_000_000)

        let shutdown = Task { await server.shutdown(gracePeriod: 5) }
        try await Task.sleep(nanoseconds: 50_000_000)
        XCTAssertTrue(eventually(timeout: 2) { (try? TestClient(port: port)) == nil }, "new connections must be refused while draining")
        XCTAssertTrue(idle.isClosedByServer(timeout: 1), "idle keep-alive connection not closed")
        let finished = try busy.readResponse()
        XCTAssertEqual(finished.text, "slow done")
        XCTAssertEqual(finished.header("Connection"), "close")
        await shutdown.value
        XCTAssertEqual(server.connectionCount, 0)
    }

    func testShutdownDeadlineCancelsStuckHandlers() async throws {
        let probe = HandlerProbe()
        let server = HTTPServer(configuration: testConfiguration(), router: testRouter(probe: probe))
        let port = try server.start()
        let client = try TestClient(port: port)
        client.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        while probe.started == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
        let started = Date()
        await server.shutdown(gracePeriod: 0.3)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        XCTAssertEqual(server.connectionCount, 0)
        XCTAssertTrue(eventually { probe.cancelled == 1 })
    }

    func testSignalTriggersGracefulShutdown() async throws {
        let server = HTTPServer(configuration: testConfiguration(), router: testRouter())
        let port = try server.start()
        let running = Task { await server.runUntilTerminated(signals: [SIGUSR2]) }
        try await Task.sleep(nanoseconds: 100_000_000)
        let client = try TestClient(port: port)
        client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200)
        kill(getpid(), SIGUSR2)
        await running.value
        XCTAssertEqual(server.connectionCount, 0)
        XCTAssertThrowsError(try TestClient(port: port))
    }

    func testStartFailsOnBadHostAndBusyPort() throws {
        var configuration = testConfiguration()
        configuration.host = "not-an-address"
        XCTAssertThrowsError(try HTTPServer(configuration: configuration, router: Router()).start())
        let (_, port) = try startServer(self)
        var taken = testConfiguration()
        taken.port = port
        XCTAssertThrowsError(try HTTPServer(configuration: taken, router: Router()).start())
    }
}
