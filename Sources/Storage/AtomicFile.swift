import Foundation

// MARK: - Atomic files

/// Whole-file writes that are all-or-nothing across a crash or power loss.
///
/// The new contents go to a temporary file beside the target, which is
/// fsync'd and renamed over the target; then the directory is fsync'd so the
/// rename itself is durable. A reader sees the old file or the new one,
/// never a mix. A crash can leave a temporary file behind: its name is the
/// target's plus `.tmp-` and a random suffix (see `isLeftover`), and
/// `removeLeftovers(in:)` deletes such files.
public enum AtomicFile {
    /// The marker in the names of temporary files.
    public static let temporaryMarker = ".tmp-"

    /// Replaces the file at `path` with `bytes`, durably. Concurrent writers
    /// of the same path each use their own temporary file; the last rename wins.
    public static func write(_ bytes: [UInt8], to path: String, faults: FaultInjection? = nil) throws(StorageError) {
        let tmp = path + temporaryMarker + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let fd = try FileIO.open(tmp, flags: O_WRONLY | O_CREAT | O_EXCL)
        do throws(StorageError) {
            try FileIO.writeAll(fd, bytes, path: tmp, faults: faults)
            try FileIO.sync(fd, path: tmp, faults: faults)
            close(fd)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        do throws(StorageError) {
            try FileIO.rename(tmp, to: path)
        } catch {
            unlink(tmp)
            throw error
        }
        try FileIO.syncDirectory(parent(of: path), faults: faults)
    }

    /// Whether `name` (a file name, not a path) is a temporary file that an
    /// interrupted `write` left behind.
    public static func isLeftover(_ name: String) -> Bool {
        guard let range = name.range(of: temporaryMarker, options: .backwards) else { return false }
        let suffix = name[range.upperBound...]
        return !suffix.isEmpty && suffix.allSatisfy(\.isHexDigit)
    }

    /// Deletes every leftover temporary file directly inside `directory`;
    /// answers their names. Call it when nothing else writes there (at open).
    @discardableResult
    public static func removeLeftovers(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let leftovers = names.filter(isLeftover)
        for name in leftovers { unlink(directory + "/" + name) }
        return leftovers
    }

    /// The directory part of `path` ("." when there is none).
    static func parent(of path: String) -> String {
        let p = (path as NSString).deletingLastPathComponent
        return p.isEmpty ? "." : p
    }
}
