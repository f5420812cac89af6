#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// MARK: - A test-only crash switch

/// TEST ONLY: lets the end-to-end tests make the process die, as an
/// out-of-memory kill would, at a chosen point of a job, on every attempt
/// (tests/e2e/test_job_limits.py proves that such a job stops being
/// resumed). Off unless the environment variable
/// `RANKSMITH_TEST_KILL_AT=<kind>:<stage>` is set, e.g. `train:train` or
/// `refine:evaluate`: when a job of that kind publishes that stage, the
/// process sends itself SIGKILL. Never set it in production; it is not a
/// flag of `serve` (docs/operations.md says so).
enum TestHooks {
    static let killAt: (kind: String, stage: String)? = {
        guard let value = ProcessInfo.processInfo.environment["RANKSMITH_TEST_KILL_AT"] else { return nil }
        let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        return (parts[0], parts[1])
    }()

    /// Kills the process if the hook names this job kind and stage.
    static func killIfAsked(kind: String, stage: String?) {
        guard let target = killAt, target.kind == kind, target.stage == stage else { return }
        FileHandle.standardError.write(Data("ranksmith: RANKSMITH_TEST_KILL_AT=\(kind):\(target.stage): killing the process (test hook)\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
