import Foundation

// MARK: - Fault injection

/// Makes the next writes or fsyncs of a store fail with a chosen errno, so
/// tests can show that a full disk or a failed fsync fails the write with a
/// typed error and loses nothing acknowledged. Production code leaves it nil.
public final class FaultInjection: @unchecked Sendable {
    private let monitor = Monitor()
    private var writeErrno: Int32?
    private var writesLeft = 0
    private var syncErrno: Int32?
    private var syncsLeft = 0

    /// No faults armed.
    public init() {}

    /// The next `times` `write` calls fail with `errno` (e.g. `ENOSPC`).
    public func failWrites(errno: Int32, times: Int = 1) {
        monitor.locked { writeErrno = errno; writesLeft = times }
    }

    /// The next `times` `fsync` calls fail with `errno` (e.g. `EIO`).
    public func failSyncs(errno: Int32, times: Int = 1) {
        monitor.locked { syncErrno = errno; syncsLeft = times }
    }

    func takeWriteFault() -> Int32? {
        monitor.locked {
            guard writesLeft > 0 else { return nil }
            writesLeft -= 1
            return writeErrno
        }
    }

    func takeSyncFault() -> Int32? {
        monitor.locked {
            guard syncsLeft > 0 else { return nil }
            syncsLeft -= 1
            return syncErrno
        }
    }
}

// MARK: - System calls

/// Every file system call of the Index goes through here: `EINTR` is
/// retried, short writes are continued, and errno becomes an `IndexError`
/// (`ENOSPC`/`EDQUOT` → `diskFull`, anything else → `ioFailed`).
enum FileIO {
    static func error(_ e: Int32, path: String, operation: String) -> IndexError {
        if e == ENOSPC || e == EDQUOT { return .diskFull(path: path) }
        return .ioFailed(path: path, operation: operation, errno: e)
    }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw error(errno, path: path, operation: "open") }
        }
    }

    /// Writes all bytes (continuing short writes).
    static func writeAll(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int, path: String, faults: FaultInjection?) throws {
        if let e = faults?.takeWriteFault() { throw error(e, path: path, operation: "write") }
        var done = 0
        while done < count {
            let n = Glibc.write(fd, p + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw error(errno, path: path, operation: "write")
            }
            if n == 0 { throw error(EIO, path: path, operation: "write") }
            done += n
        }
    }

    static func sync(_ fd: Int32, path: String, faults: FaultInjection?) throws {
        if let e = faults?.takeSyncFault() { throw error(e, path: path, operation: "fsync") }
        while fsync(fd) != 0 {
            if errno != EINTR { throw error(errno, path: path, operation: "fsync") }
        }
    }

    /// Makes a rename or create inside `directory` durable.
    static func syncDirectory(_ directory: String, faults: FaultInjection?) throws {
        let fd = try open(directory, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try sync(fd, path: directory, faults: faults)
    }

    static func truncate(_ fd: Int32, to size: Int, path: String) throws {
        while ftruncate(fd, off_t(size)) != 0 {
            if errno != EINTR { throw error(errno, path: path, operation: "ftruncate") }
        }
    }

    static func seekEnd(_ fd: Int32, to size: Int, path: String) throws {
        if lseek(fd, off_t(size), SEEK_SET) < 0 { throw error(errno, path: path, operation: "lseek") }
    }

    /// The whole file, or nil when it does not exist.
    static func readFile(_ path: String) throws -> [UInt8]? {
        let fd: Int32
        do {
            fd = try open(path, flags: O_RDONLY)
        } catch IndexError.ioFailed(_, _, let e) where e == ENOENT {
            return nil
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error(errno, path: path, operation: "fstat") }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        try out.withUnsafeMutableBytes { buf in
            while done < buf.count {
                let n = Glibc.read(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw error(errno, path: path, operation: "read")
                }
                if n == 0 { break }
                done += n
            }
        }
        if done < out.count { out.removeLast(out.count - done) }
        return out
    }

    /// Writes `bytes` to `path` atomically: a temporary file, fsync,
    /// rename over `path`, fsync of the directory.
    static func writeAtomically(_ bytes: [UInt8], to path: String, faults: FaultInjection?) throws {
        let tmp = path + ".tmp"
        let fd = try open(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try bytes.withUnsafeBytes { try writeAll(fd, $0.baseAddress!, $0.count, path: tmp, faults: faults) }
            try sync(fd, path: tmp, faults: faults)
            close(fd)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw self.error(e, path: path, operation: "rename")
        }
        try syncDirectory((path as NSString).deletingLastPathComponent, faults: faults)
    }
}
