import Foundation
import HTTP
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers

/// Collects access-log lines from the server.
final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}

/// Counts this process's open file descriptors.
func openFileDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// Raises this process's soft descriptor limit to the hard limit; answers the soft limit.
func raiseDescriptorLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = min(limit.rlim_max, 65536)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return Int(limit.rlim_cur)
}

/// A configuration for tests: ephemeral port, short timeouts, logs collected.
func testConfiguration(logs: LogCollector? = nil) -> HTTPServerConfiguration {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.timeouts.header = 2
    configuration.timeouts.body = 2
    configuration.timeouts.idle = 2
    configuration.timeouts.write = 2
    configuration.timeouts.drain = 2
    if let logs {
        configuration.accessLog = { logs.append($0) }
    } else {
        configuration.accessLog = nil
    }
    return configuration
}

/// Polls `condition` every 10 ms for up to `timeout` seconds.
func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
