import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - ServerCore

/// The listening socket, the connection table and shutdown. (Stub while the
/// public API settles.)
final class ServerCore: @unchecked Sendable {
    let configuration: HTTPServerConfiguration
    private(set) var boundPort = 0
    var connectionCount: Int { 0 }

    init(configuration: HTTPServerConfiguration) {
        self.configuration = configuration
    }

    func start(server: HTTPServer) throws -> Int { throw HTTPServerError.alreadyStarted }
    func shutdown(gracePeriod: Double) async {}
    func runUntilTerminated(signals: [Int32], server: HTTPServer) async {}
}
