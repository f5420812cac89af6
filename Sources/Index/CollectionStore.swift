import Foundation
import Storage

// MARK: - Collection manifest

/// `collection.json`, written once at creation: what the collection is.
struct CollectionManifest: Codable {
    static let fileName = "collection.json"
    static let currentFormat = 1

    var format: Int
    var name: String
    var dimensions: Int
    var metric: String
    var modelVersion: String
    var settings: CollectionSettings
}

// MARK: - Store

/// Every collection under one directory (`<data-dir>/index`), one
/// subdirectory each:
///
/// ```
/// <name>/collection.json   name, dimensions, metric, model version, settings
/// <name>/snapshot.bin      the latest snapshot (see Snapshot.swift)
/// <name>/wal-<lsn>.log     write-ahead log segments (see WriteAheadLog.swift)
/// ```
///
/// Opening the store recovers every collection (snapshot + log replay).
/// Thread-safe: the name → collection table has its own lock.
public final class CollectionStore: @unchecked Sendable {
    /// Store options.
    public struct Options: Sendable {
        /// Log bytes after which a collection writes a snapshot in the background.
        public var snapshotEveryBytes: Int
        /// Injected I/O failures, for tests only.
        public var faults: FaultInjection?

        /// Options; snapshots every 64 MiB of log by default.
        public init(snapshotEveryBytes: Int = 64 << 20, faults: FaultInjection? = nil) {
            self.snapshotEveryBytes = snapshotEveryBytes
            self.faults = faults
        }
    }

    /// The directory holding the collections.
    public let directory: URL
    let options: Options
    private let monitor = Monitor()
    private var collections: [String: Collection] = [:]

    /// Opens (creating if needed) the store in `directory` and recovers
    /// every collection in it. Throws `corruptSnapshot`/`corruptLog` when a
    /// collection's files fail their checks, `ioFailed` when they cannot be read.
    public init(directory: URL, options: Options = Options()) throws {
        self.directory = directory
        self.options = options
        let path = directory.path
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw IndexError.ioFailed(path: path, operation: "mkdir", errno: EACCES)
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for n in names.sorted() {
            if n.hasPrefix(".dropped-") {
                try? FileManager.default.removeItem(atPath: path + "/" + n)
                continue
            }
            var dir = path + "/" + n
            guard let bytes = try indexErrors({ try FileIO.readFile(dir + "/" + CollectionManifest.fileName) }) else { continue }
            let manifest: CollectionManifest
            do {
                manifest = try JSONDecoder().decode(CollectionManifest.self, from: Data(bytes))
            } catch {
                throw IndexError.corruptSnapshot(path: dir + "/" + CollectionManifest.fileName, reason: "unreadable manifest: \(error)")
            }
            if manifest.name != n, names.contains(manifest.name) {
                // A `replace` stopped before its renames: the old collection
                // is intact and this re-embedded shadow is dropped.
                let tomb = path + "/.dropped-\(n)-\(UInt64.random(in: 0...UInt64.max))"
                if (try? FileIO.rename(dir, to: tomb)) != nil { try? FileManager.default.removeItem(atPath: tomb) }
                continue
            }
            if manifest.name != n, !names.contains(manifest.name), (try? Validation.name(manifest.name)) != nil {
                // A `replace` stopped between its two renames: finish it.
                let target = path + "/" + manifest.name
                try indexErrors { try FileIO.rename(dir, to: target) }
                try indexErrors { try FileIO.syncDirectory(path, faults: options.faults) }
                dir = target
            }
            guard manifest.format == CollectionManifest.currentFormat, dir.hasSuffix("/" + manifest.name),
                collections[manifest.name] == nil,
                manifest.dimensions > 0, manifest.dimensions <= Limits.maxDimensions
            else {
                throw IndexError.corruptSnapshot(
                    path: dir + "/" + CollectionManifest.fileName, reason: "manifest format, name or dimensions do not match")
            }
            collections[manifest.name] = try Collection(directory: dir, manifest: manifest, options: options)
        }
    }

    /// Creates an empty collection. Throws `invalidName`, `collectionExists`,
    /// `invalidSettings`, `invalidParameter` (dimensions outside 1…65,536),
    /// or an I/O error.
    @discardableResult
    public func create(
        name: String, dimensions: Int, modelVersion: String, settings: CollectionSettings = CollectionSettings()
    ) throws -> Collection {
        try Validation.name(name)
        try settings.validate()
        guard dimensions >= 1, dimensions <= Limits.maxDimensions else {
            throw IndexError.invalidParameter(field: "dimensions", reason: "must be in 1…\(Limits.maxDimensions), got \(dimensions)")
        }
        return try monitor.locked {
            if collections[name] != nil { throw IndexError.collectionExists(name) }
            let dir = directory.path + "/" + name
            if FileManager.default.fileExists(atPath: dir) { try? FileManager.default.removeItem(atPath: dir) }
            guard mkdir(dir, 0o755) == 0 else { throw IndexError(FileIO.error(errno, path: dir, operation: "mkdir")) }
            let manifest = CollectionManifest(
                format: CollectionManifest.currentFormat, name: name, dimensions: dimensions, metric: "cosine",
                modelVersion: modelVersion, settings: settings)
            do {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                let bytes = [UInt8](try enc.encode(manifest))
                try indexErrors { try AtomicFile.write(bytes, to: dir + "/" + CollectionManifest.fileName, faults: options.faults) }
                try indexErrors { try FileIO.syncDirectory(directory.path, faults: options.faults) }
                let c = try Collection(directory: dir, manifest: manifest, options: options)
                collections[name] = c
                return c
            } catch {
                try? FileManager.default.removeItem(atPath: dir)
                throw error
            }
        }
    }

    /// The collection with this name, or `unknownCollection`.
    public func collection(_ name: String) throws -> Collection {
        guard let c = monitor.locked({ collections[name] }) else { throw IndexError.unknownCollection(name) }
        return c
    }

    /// Deletes a collection and its files. Searches already holding it finish;
    /// writes to it fail from now on.
    public func drop(name: String) throws {
        let c: Collection = try monitor.locked {
            guard let c = collections.removeValue(forKey: name) else { throw IndexError.unknownCollection(name) }
            return c
        }
        c.close(.dropped)
        // Rename first so a crash mid-delete never leaves half a collection to recover.
        let dir = directory.path + "/" + name
        let tomb = directory.path + "/.dropped-\(name)-\(UInt64.random(in: 0...UInt64.max))"
        try indexErrors { try FileIO.rename(dir, to: tomb) }
        try indexErrors { try FileIO.syncDirectory(directory.path, faults: options.faults) }
        try? FileManager.default.removeItem(atPath: tomb)
    }

    /// Puts collection `shadow` in the place of collection `name` (e.g. after
    /// re-embedding every document with a new model into `shadow`) and
    /// deletes the old one; returns the collection now called `name`.
    ///
    /// The table switches in one step under the store's lock. Collections
    /// already handed out keep answering reads from their memory; writes to
    /// them fail with `unavailable`. On disk the swap is two renames; a crash
    /// between them is completed at the next start (a directory whose
    /// manifest names a missing collection takes that name).
    @discardableResult
    public func replace(_ name: String, with shadow: String) throws -> Collection {
        _ = try collection(name)
        try collection(shadow).snapshot()  // outside the lock: reopening below then replays little
        return try monitor.locked {
            guard let old = collections[name] else { throw IndexError.unknownCollection(name) }
            guard let fresh = collections[shadow] else { throw IndexError.unknownCollection(shadow) }
            fresh.close(.replaced)
            let base = directory.path
            var manifest = fresh.manifest
            manifest.name = name
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let bytes = [UInt8]((try? enc.encode(manifest)) ?? Data())
            try indexErrors { try AtomicFile.write(bytes, to: "\(base)/\(shadow)/\(CollectionManifest.fileName)", faults: options.faults) }
            old.close(.replaced)
            let tomb = "\(base)/.dropped-\(name)-\(UInt64.random(in: 0...UInt64.max))"
            try indexErrors {
                try FileIO.rename("\(base)/\(name)", to: tomb)
                try FileIO.rename("\(base)/\(shadow)", to: "\(base)/\(name)")
            }
            try indexErrors { try FileIO.syncDirectory(base, faults: options.faults) }
            let c = try Collection(directory: "\(base)/\(name)", manifest: manifest, options: options)
            collections[name] = c
            collections[shadow] = nil
            try? FileManager.default.removeItem(atPath: tomb)
            return c
        }
    }

    /// Every collection, sorted by name.
    public func list() -> [CollectionInfo] {
        let all = monitor.locked { Array(collections.values) }
        return all.map(\.info).sorted { $0.name < $1.name }
    }

    /// The description of one collection, or `unknownCollection`.
    public func info(name: String) throws -> CollectionInfo {
        try collection(name).info
    }

    /// Stops writes to every collection (they fail with `unavailable`) and
    /// forgets them; searches already holding one keep answering from its
    /// memory. Used when a model swap retires this store's generation.
    public func closeAll() {
        let all = monitor.locked {
            let all = Array(collections.values)
            collections.removeAll()
            return all
        }
        for c in all { c.close(.replaced) }
    }

    /// Snapshots every collection (e.g. before a planned shutdown).
    public func snapshotAll() throws {
        for c in monitor.locked({ Array(collections.values) }) { try c.snapshot() }
    }
}
