import Foundation
import Storage

// MARK: - Collection

/// A named set of documents with unit-normalised vectors of one length,
/// searched by cosine similarity; durable under its directory.
///
/// Thread-safety: any number of searches and reads run at once; writes
/// take an exclusive lock only to apply a change in memory, after it is
/// on disk. Writes are applied in log order, so readers always see a
/// prefix of the acknowledged history.
///
/// Durability: `upsert` and `delete` return only after their log record is
/// fsync'd (concurrent writers share one fsync). A failed write throws
/// (`diskFull`, `ioFailed`, `unavailable`) and changes nothing in memory.
public final class Collection: @unchecked Sendable {
    /// The collection's name.
    public let name: String
    /// Vector length.
    public let dimensions: Int
    /// The embedding model version the vectors came from.
    public let modelVersion: String
    /// Settings given at creation.
    public let settings: CollectionSettings

    let directory: String
    /// What `collection.json` says about this collection.
    let manifest: CollectionManifest
    private let options: CollectionStore.Options
    private let lock = ReadWriteLock()
    private var state: CollectionState
    private let wal: CollectionLog
    private let order = Monitor()
    private var nextToApply: UInt64
    private let snapshotGate = Monitor()
    private var snapshotRunning = false
    private var closed = false
    /// Why writes stopped, once they have (guarded by `snapshotGate`).
    private var closedBecause: CloseReason?

    /// Why a collection stops accepting writes.
    enum CloseReason {
        /// It was deleted: a write racing the delete answers `unknownCollection`.
        case dropped
        /// A re-embedded copy took its place under the same name.
        case replaced
    }

    /// Opens the collection stored in `directory`: loads the snapshot (if
    /// any), replays the log after it, and cuts off a torn last record.
    init(directory: String, manifest: CollectionManifest, options: CollectionStore.Options) throws {
        self.directory = directory
        self.manifest = manifest
        self.name = manifest.name
        self.dimensions = manifest.dimensions
        self.modelVersion = manifest.modelVersion
        self.settings = manifest.settings
        self.options = options
        let snapPath = directory + "/" + Snapshot.fileName
        AtomicFile.removeLeftovers(in: directory)  // a snapshot write cut short by a crash
        if let bytes = try indexErrors({ try FileIO.readFile(snapPath) }) {
            state = try Snapshot.decode(bytes, path: snapPath, dimensions: dimensions, settings: settings)
        } else {
            state = CollectionState(dimensions: dimensions, settings: settings)
        }
        wal = CollectionLog(directory: directory, dimensions: dimensions, faults: options.faults)
        let st = state
        try wal.recover(after: st.appliedLSN) { lsn, op in
            st.apply(op)
            st.appliedLSN = lsn
        }
        nextToApply = state.appliedLSN + 1
    }

    // MARK: Writing

    /// Inserts or replaces documents; returns once the change is durable.
    ///
    /// Checks first, writing nothing when any item is bad: ids 1…512 UTF-8
    /// bytes and unique within the batch; vectors of `dimensions` finite
    /// components, not all zero (they are stored normalised); metadata
    /// nested at most 32 deep with finite numbers. Errors name the field as
    /// `documents[i].…`.
    public func upsert(_ items: [(document: Document, vector: [Float])]) throws {
        if items.isEmpty { return }
        var seen = Set<String>(), dupes: [String] = []
        var docs: [Document] = [], vecs: [[Float]] = []
        docs.reserveCapacity(items.count)
        vecs.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            try Validation.id(item.document.id, field: "documents[\(i)].id")
            try Validation.metadata(item.document.metadata, field: "documents[\(i)].metadata")
            if !seen.insert(item.document.id).inserted { dupes.append(item.document.id) }
            vecs.append(try VectorCheck.normalised(item.vector, dimensions: dimensions, field: "documents[\(i)].vector"))
            docs.append(item.document)
        }
        if !dupes.isEmpty { throw IndexError.duplicateIds(dupes) }
        try write(.upsert(docs, vecs))
    }

    /// Deletes documents by id (unknown ids are ignored); returns once durable.
    public func delete(ids: [String]) throws {
        if ids.isEmpty { return }
        for (i, id) in ids.enumerated() { try Validation.id(id, field: "ids[\(i)]") }
        try write(.delete(ids))
    }

    /// Log, fsync (shared), then apply in log order.
    private func write(_ op: LogOperation) throws {
        let lsn: UInt64
        do { lsn = try wal.append(op) } catch { throw closedError() ?? error }
        var failure: Error?
        do { try wal.commit(lsn) } catch { failure = closedError() ?? error }
        order.locked { while nextToApply != lsn { order.wait() } }
        if failure == nil {
            lock.write {
                state.apply(op)
                state.appliedLSN = lsn
            }
        }
        order.locked {
            nextToApply = lsn + 1
            order.broadcast()
        }
        if let e = failure { throw e }
        snapshotIfDue()
    }

    // MARK: Snapshots

    /// Writes a snapshot of everything applied so far and deletes the log
    /// segments it covers. Writers wait while it is written; searches do not.
    public func snapshot() throws {
        snapshotGate.locked {
            while snapshotRunning { snapshotGate.wait() }
            snapshotRunning = true
        }
        defer {
            snapshotGate.locked {
                snapshotRunning = false
                snapshotGate.broadcast()
            }
        }
        let rotated = try wal.rotate()
        order.locked { while nextToApply <= rotated { order.wait() } }
        let (bytes, lsn) = lock.read { (Snapshot.encode(state), state.appliedLSN) }
        try indexErrors { try AtomicFile.write(bytes, to: directory + "/" + Snapshot.fileName, faults: options.faults) }
        try wal.removeSegments(coveredBy: lsn)
    }

    /// Starts a background snapshot when the log has grown past the limit.
    private func snapshotIfDue() {
        guard wal.bytesSinceRotate >= options.snapshotEveryBytes else { return }
        let start: Bool = snapshotGate.locked {
            if snapshotRunning || closed { return false }
            return true
        }
        guard start else { return }
        DispatchQueue.global(qos: .utility).async { [self] in try? snapshot() }
    }

    /// Stops accepting writes (the store calls this before dropping or
    /// replacing the collection).
    func close(_ reason: CloseReason) {
        snapshotGate.locked {
            closed = true
            closedBecause = reason
        }
        wal.close()
    }

    /// What a write that failed because the collection was closed under it
    /// answers: the collection is gone (404), or was replaced (retry); nil
    /// while the collection is open (the failure is the disk's).
    private func closedError() -> IndexError? {
        switch snapshotGate.locked({ closedBecause }) {
        case .dropped?: return .unknownCollection(name)
        case .replaced?: return .unavailable("'\(name)' was replaced by a re-embedded copy while this write ran; send it again")
        case nil: return nil
        }
    }

    // MARK: Reading

    /// Runs `body` with the state under the shared lock.
    func withState<T>(_ body: (CollectionState) throws -> T) rethrows -> T {
        try lock.read { try body(state) }
    }

    /// Live documents.
    public var count: Int { lock.read { state.liveCount } }

    /// A description of the collection.
    public var info: CollectionInfo {
        lock.read {
            CollectionInfo(
                name: name, dimensions: dimensions, metric: "cosine", count: state.liveCount,
                indexKind: state.kind, modelVersion: modelVersion, settings: settings)
        }
    }

    /// Approximate memory per live document for vectors and graph links, in bytes.
    public var bytesPerVector: Double { lock.read { state.bytesPerVector } }

    /// The document with this id and its stored (unit-normalised) vector.
    public func get(id: String) -> (document: Document, vector: [Float])? {
        lock.read {
            guard let s = state.slotOf[id].map(Int.init) else { return nil }
            return (state.document(at: s), Array(UnsafeBufferPointer(start: state.vectors.row(s), count: dimensions)))
        }
    }

    /// The ids of every live document, in slot order (a consistent copy
    /// taken under one read lock). A re-embedding walks these in chunks and
    /// reads each document with `get(id:)`, so it never copies every vector.
    public func ids() -> [String] {
        lock.read { state.ids.compactMap { $0 } }
    }

    /// Every live document with its vector, for re-embedding after a model
    /// swap (a consistent copy taken under one read lock).
    public func allDocuments() -> [(document: Document, vector: [Float])] {
        lock.read {
            (0..<state.vectors.count).compactMap { s in
                guard state.ids[s] != nil else { return nil }
                return (state.document(at: s), Array(UnsafeBufferPointer(start: state.vectors.row(s), count: dimensions)))
            }
        }
    }
}
