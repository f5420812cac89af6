import Foundation
import Synchronization

// MARK: - Fault injection

/// Makes the next writes or fsyncs of a store fail with a chosen errno, so
/// tests can show that a full disk or a failed fsync fails the write with a
/// typed error and loses nothing acknowledged. Production code leaves it nil.
public final class FaultInjection: Sendable {
    private struct Armed {
        var writeErrno: Int32?
        var writesLeft = 0
        var syncErrno: Int32?
        var syncsLeft = 0
    }

    private let armed = Mutex(Armed())

    /// No faults armed.
    public init() {}

    /// The next `times` `write` calls fail with `errno` (e.g. `ENOSPC`).
    public func failWrites(errno: Int32, times: Int = 1) {
        armed.withLock { $0.writeErrno = errno; $0.writesLeft = times }
    }

    /// The next `times` `fsync` calls fail with `errno` (e.g. `EIO`).
    public func failSyncs(errno: Int32, times: Int = 1) {
        armed.withLock { $0.syncErrno = errno; $0.syncsLeft = times }
    }

    func takeWriteFault() -> Int32? {
        armed.withLock {
            guard $0.writesLeft > 0 else { return nil }
            $0.writesLeft -= 1
            return $0.writeErrno
        }
    }

    func takeSyncFault() -> Int32? {
        armed.withLock {
            guard $0.syncsLeft > 0 else { return nil }
            $0.syncsLeft -= 1
            return $0.syncErrno
        }
    }
}

// MARK: - System calls

/// Every file system call of the storage layer goes through here: `EINTR`
/// is retried, short writes are continued, and errno becomes a
/// `StorageError` (`ENOSPC`/`EDQUOT` → `diskFull`, anything else → `ioFailed`).
public enum FileIO {
    /// The error for `errno` value `e` from `operation` on `path`.
    public static func error(_ e: Int32, path: String, operation: String) -> StorageError {
        if e == ENOSPC || e == EDQUOT { return .diskFull(path: path) }
        return .ioFailed(path: path, operation: operation, errno: e)
    }

    /// Opens `path` (close-on-exec); answers the descriptor.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(StorageError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw error(errno, path: path, operation: "open") }
        }
    }

    /// Writes all bytes (continuing short writes).
    public static func writeAll(
        _ fd: Int32, _ p: UnsafeRawPointer, _ count: Int, path: String, faults: FaultInjection?
    ) throws(StorageError) {
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

    /// Writes all of `bytes` (continuing short writes).
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String, faults: FaultInjection?) throws(StorageError) {
        // `withUnsafeBytes` rethrows untyped errors, so the failure is carried out by hand.
        let failure: StorageError? = bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return nil }  // empty: nothing to write
            do throws(StorageError) {
                try writeAll(fd, base, buffer.count, path: path, faults: faults)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Flushes the file's data and metadata to stable storage.
    public static func sync(_ fd: Int32, path: String, faults: FaultInjection?) throws(StorageError) {
        if let e = faults?.takeSyncFault() { throw error(e, path: path, operation: "fsync") }
        while fsync(fd) != 0 {
            if errno != EINTR { throw error(errno, path: path, operation: "fsync") }
        }
    }

    /// Makes a rename, create or delete inside `directory` durable.
    public static func syncDirectory(_ directory: String, faults: FaultInjection?) throws(StorageError) {
        let fd = try open(directory, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try sync(fd, path: directory, faults: faults)
    }

    /// Cuts the file to `size` bytes.
    public static func truncate(_ fd: Int32, to size: Int, path: String) throws(StorageError) {
        while ftruncate(fd, off_t(size)) != 0 {
            if errno != EINTR { throw error(errno, path: path, operation: "ftruncate") }
        }
    }

    /// Moves the file offset to `size` (the end after `truncate`).
    public static func seekEnd(_ fd: Int32, to size: Int, path: String) throws(StorageError) {
        if lseek(fd, off_t(size), SEEK_SET) < 0 { throw error(errno, path: path, operation: "lseek") }
    }

    /// Renames `from` to `to` (replacing a file at `to`); not yet durable
    /// until the directory is synced.
    public static func rename(_ from: String, to: String) throws(StorageError) {
        if Glibc.rename(from, to) != 0 { throw error(errno, path: from, operation: "rename") }
    }

    /// The whole file, or nil when it does not exist.
    public static func readFile(_ path: String) throws(StorageError) -> [UInt8]? {
        let fd: Int32
        do throws(StorageError) {
            fd = try open(path, flags: O_RDONLY)
        } catch .ioFailed(_, _, let e) where e == ENOENT {
            return nil
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error(errno, path: path, operation: "fstat") }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var failure: StorageError?
        let done: Int = out.withUnsafeMutableBytes { buf in
            var done = 0
            while done < buf.count {
                let n = Glibc.read(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = error(errno, path: path, operation: "read")
                    break
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        if let failure { throw failure }
        if done < out.count { out.removeLast(out.count - done) }
        return out
    }
}
