import Foundation
import Index
import Storage

// MARK: - Activation status

/// Where an activation (a hot-swap to another model version) stands. The
/// API shows it at `GET /models/activation`; jobs receive it as progress.
public struct ActivationStatus: Sendable {
    /// Whether it runs, committed, or failed.
    public enum State: String, Sendable {
        case running, succeeded, failed
    }

    /// What it is doing.
    public enum Stage: String, Sendable {
        /// Loading the new version's weights and checking its vectors.
        case loading
        /// Embedding every collection's documents into the shadow index.
        case reembedding = "re-embedding"
        /// Writing the shadow's snapshots and swapping.
        case committing
        /// Finished (see `state`).
        case done
    }

    /// Activations since start, counting this one.
    public var id: Int
    /// The version being activated.
    public var version: String
    /// The version that served when it started.
    public var from: String
    public var state: State
    public var stage: Stage
    /// Collections to re-embed, and those finished.
    public var collectionsTotal = 0, collectionsDone = 0
    /// Documents to re-embed (counted at the start), and those finished.
    public var documentsTotal = 0, documentsDone = 0
    public var startedAt: Date
    public var finishedAt: Date?
    /// Why it failed.
    public var error: String?
    /// The memory the swap was estimated to need at its peak.
    public var estimatedPeakBytes: Int
    /// `--max-memory`, if set.
    public var memoryLimitBytes: Int?

    /// Fraction done, 0…1 (documents re-embedded; 1 once succeeded).
    public var progress: Double {
        if state == .succeeded { return 1 }
        return documentsTotal == 0 ? 0 : Double(documentsDone) / Double(documentsTotal)
    }
}

// MARK: - The shadow of a swap in progress

/// The collections being built for the new version while the old pair
/// serves, and what callers wrote meanwhile.
///
/// Every write that reaches a live collection during the swap reaches the
/// shadow too, inside `writes`, so the two see the same order of changes.
/// The re-embedder copies documents in chunks and, inside the same lock,
/// skips any id a caller wrote (or deleted) after the swap began: the
/// caller's write is newer than the copy.
final class ShadowBuild: @unchecked Sendable {
    /// The new version's model.
    let handle: ModelHandle
    /// The shadow collections, in `<data-dir>/<indexName>`.
    let store: CollectionStore
    let indexName: String
    /// The pair serving when the swap began; the swap replaces it.
    let base: ServingPair

    /// Orders mirrored writes and the re-embedder's writes. The fields
    /// below are read and written only while holding it.
    let writes = Monitor()
    /// Per collection, the ids callers wrote since the swap began.
    var written: [String: Set<String>] = [:]
    /// Collections dropped since the swap began (a re-created one is
    /// filled by mirrored writes alone).
    var dropped: Set<String> = []
    /// Set when a mirrored write failed: the swap must not commit.
    var failure: String?

    init(handle: ModelHandle, store: CollectionStore, indexName: String, base: ServingPair) {
        self.handle = handle
        self.store = store
        self.indexName = indexName
        self.base = base
    }

    /// Mirrors a caller's new collection (call inside `writes`, after the live create succeeded).
    func mirrorCreate(_ collection: String, settings: CollectionSettings) {
        do {
            try store.create(name: collection, dimensions: handle.model.dimensions, modelVersion: handle.version, settings: settings)
        } catch {
            failure = failure ?? "creating the shadow of '\(collection)' failed: \(error)"
        }
    }

    /// Mirrors a caller's drop (call inside `writes`, after the live drop
    /// succeeded): the re-embedder skips the collection from now on.
    func mirrorDrop(_ collection: String) {
        dropped.insert(collection)
        written[collection] = nil
        do {
            try store.drop(name: collection)
        } catch IndexError.unknownCollection {
        } catch {
            failure = failure ?? "dropping the shadow of '\(collection)' failed: \(error)"
        }
    }

    /// Mirrors a caller's upsert (call inside `writes`, after the live write succeeded).
    func mirrorUpsert(_ collection: String, _ items: [(document: Document, vector: [Float])]) {
        written[collection, default: []].formUnion(items.map(\.document.id))
        do {
            try store.collection(collection).upsert(items)
        } catch {
            failure = failure ?? "mirroring an upsert into the shadow of '\(collection)' failed: \(error)"
        }
    }

    /// Mirrors a caller's delete (call inside `writes`).
    func mirrorDelete(_ collection: String, _ ids: [String]) {
        written[collection, default: []].formUnion(ids)
        do {
            try store.collection(collection).delete(ids: ids)
        } catch {
            failure = failure ?? "mirroring a delete into the shadow of '\(collection)' failed: \(error)"
        }
    }
}

// MARK: - Swap state

/// The running activation, its shadow once built, and the last status.
struct SwapState {
    var running: ActivationStatus?
    var task: Task<Void, Never>?
    var shadow: ShadowBuild?
    var last: ActivationStatus?
    var count = 0
}

// MARK: - The transition lock

/// Orders collection writes against the two moments of a swap that must
/// see no write half done: installing the shadow (before the re-embedder
/// lists the documents) and committing (the pair changes). Writes hold it
/// shared for their synchronous part (log append and fsync); those two
/// moments hold it exclusively. Writer-preferring, so a stream of writes
/// cannot hold off a commit. Never held across an `await`.
final class TransitionLock: @unchecked Sendable {
    private let monitor = Monitor()
    // Guarded by `monitor`.
    private var readers = 0
    private var writer = false
    private var writersWaiting = 0

    /// Runs `body` shared with other writes.
    func shared<T>(_ body: () throws -> T) rethrows -> T {
        monitor.locked {
            while writer || writersWaiting > 0 { monitor.wait() }
            readers += 1
        }
        defer {
            monitor.locked {
                readers -= 1
                if readers == 0 { monitor.broadcast() }
            }
        }
        return try body()
    }

    /// Runs `body` with no write in progress.
    func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        monitor.locked {
            writersWaiting += 1
            while writer || readers > 0 { monitor.wait() }
            writersWaiting -= 1
            writer = true
        }
        defer {
            monitor.locked {
                writer = false
                monitor.broadcast()
            }
        }
        return try body()
    }
}

// MARK: - Memory

/// Resident set size of this process in bytes (Linux: /proc/self/statm; 0
/// elsewhere): the swap's memory estimate and the `/metrics` gauge.
public func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Bytes the weights of the model in `folder` take once loaded (as Float):
/// elements counted from model.safetensors' header, without reading the
/// tensors. The header is 8 bytes of little-endian length, then that many
/// bytes of JSON: `{name: {"dtype", "shape", "data_offsets"}, "__metadata__"?}`.
func loadedWeightBytes(folder: String) -> Int? {
    guard let handle = FileHandle(forReadingAtPath: folder + "/model.safetensors") else { return nil }
    defer { try? handle.close() }
    guard let prefix = try? handle.read(upToCount: 8), prefix.count == 8 else { return nil }
    let length = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard length < 100 << 20, let header = try? handle.read(upToCount: Int(length)), header.count == Int(length),
          let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else { return nil }
    var elements = 0
    for (name, entry) in object where name != "__metadata__" {
        guard let shape = (entry as? [String: Any])?["shape"] as? [Int] else { return nil }
        elements += shape.reduce(1, *)
    }
    return elements * 4
}

/// `hidden_size` of the model in `folder` (its vector length), from config.json.
func hiddenSize(folder: String) -> Int? {
    guard let data = FileManager.default.contents(atPath: folder + "/config.json"),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
    return object["hidden_size"] as? Int
}
