#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// MARK: - Atomic replacement of a small file

/// Writes `data` to `url` so that a crash leaves either the old or the new
/// contents: temp file in the same folder, fsync, rename over the target,
/// fsync of the folder (so the rename itself is durable).
func writeAtomically(_ data: Data, to url: URL) throws {
    let dir = url.deletingLastPathComponent().path
    let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    func fail(_ what: String) -> JobError { .storage("\(what) \(url.path): \(String(cString: strerror(errno)))") }
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw fail("create temp file for") }
    var ok = data.withUnsafeBytes { buf -> Bool in
        var off = 0
        while off < buf.count {
            let n = write(fd, buf.baseAddress! + off, buf.count - off)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            off += n
        }
        return true
    }
    if ok { ok = fsync(fd) == 0 }
    let err = fail("write")
    close(fd)
    guard ok else { unlink(tmp); throw err }
    guard rename(tmp, url.path) == 0 else { let e = fail("rename onto"); unlink(tmp); throw e }
    let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 { _ = fsync(dfd); close(dfd) }
}
