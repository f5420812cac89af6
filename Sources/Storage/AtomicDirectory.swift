import Foundation

// MARK: - Atomic directories

/// Publishes a directory all at once: readers see either no directory or
/// the complete one, even across a crash or power loss. Model versions
/// (`models/<version>/`) are published this way.
///
/// `publish` creates a staging folder inside the same parent (so the final
/// rename never crosses a file system), lets the caller fill it, fsyncs
/// every file and folder in it, renames it to its final name and fsyncs the
/// parent. Staging folders are named `.publishing-<name>-<random hex>`; one
/// that survives is the remains of a publish that crashed before its rename,
/// holds nothing anyone has seen, and is deleted by `removeLeftovers(in:)`.
public enum AtomicDirectory {
    /// The prefix of staging folder names.
    public static let stagingPrefix = ".publishing-"

    /// Publishes `parent/name`, filled by `fill` (which gets the staging
    /// folder's path and writes plain files and folders into it).
    ///
    /// Throws `StorageError.alreadyExists` when `parent/name` exists (a
    /// published directory is immutable), an I/O error from the file
    /// system, or whatever `fill` throws; on any error the staging folder
    /// is removed and nothing is published.
    public static func publish(
        _ name: String, in parent: String, faults: FaultInjection? = nil, fill: (String) throws -> Void
    ) throws {
        precondition(!name.isEmpty && !name.contains("/") && !name.hasPrefix("."), "publish needs a plain, visible name")
        let target = parent + "/" + name
        if FileManager.default.fileExists(atPath: target) { throw StorageError.alreadyExists(path: target) }
        let staging = parent + "/" + stagingPrefix + name + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        guard mkdir(staging, 0o755) == 0 else { throw FileIO.error(errno, path: staging, operation: "mkdir") }
        do {
            try fill(staging)
            try syncTree(staging, faults: faults)
            // rename(2) onto an existing non-empty directory fails, so a
            // publish that raced another one to the same name cannot
            // replace it; an empty one in the way is replaced.
            if FileManager.default.fileExists(atPath: target) { throw StorageError.alreadyExists(path: target) }
            try FileIO.rename(staging, to: target)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        try FileIO.syncDirectory(parent, faults: faults)
    }

    /// Whether `name` (inside a parent directory) is a staging folder left
    /// by a publish that did not finish.
    public static func isLeftover(_ name: String) -> Bool {
        name.hasPrefix(stagingPrefix)
    }

    /// Deletes the staging folders directly inside `parent`; answers their
    /// names. Call it when no publish into `parent` is running (at start-up).
    @discardableResult
    public static func removeLeftovers(in parent: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        let leftovers = names.filter(isLeftover)
        for name in leftovers { try? FileManager.default.removeItem(atPath: parent + "/" + name) }
        return leftovers
    }

    /// Fsyncs every regular file and folder under `directory`, folders after
    /// their contents, `directory` last.
    static func syncTree(_ directory: String, faults: FaultInjection?) throws(StorageError) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names {
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { throw FileIO.error(errno, path: path, operation: "stat") }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try syncTree(path, faults: faults)
            case S_IFREG:
                let fd = try FileIO.open(path, flags: O_RDONLY)
                defer { close(fd) }
                try FileIO.sync(fd, path: path, faults: faults)
            default:
                continue  // links and special files carry no data of their own
            }
        }
        try FileIO.syncDirectory(directory, faults: faults)
    }
}
