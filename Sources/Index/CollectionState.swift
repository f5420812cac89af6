import Foundation
import Numerics
import Storage

// MARK: - In-memory state of one collection

/// Documents, vectors and the graph of one collection. Not thread-safe:
/// `Collection` reads it under a shared lock and changes it under an
/// exclusive one.
///
/// Slots: row `s` of `vectors` belongs to `ids[s]` (nil: a tombstone). A flat
/// collection has no tombstones — deletes move the last row into the hole.
/// An HNSW collection keeps tombstones as graph nodes until a rebuild.
final class CollectionState {
    let dimensions: Int
    let settings: CollectionSettings
    let vectors: VectorStore
    private(set) var ids: [String?] = []
    private(set) var texts: [String] = []
    private(set) var metadata: [[String: JSONValue]] = []
    private(set) var slotOf: [String: Int32] = [:]
    private(set) var graph: HNSWGraph?
    private(set) var tombstones = 0
    /// LSN of the last applied log record.
    var appliedLSN: UInt64 = 0

    init(dimensions: Int, settings: CollectionSettings) {
        self.dimensions = dimensions
        self.settings = settings
        vectors = VectorStore(dimensions: dimensions)
    }

    var liveCount: Int { slotOf.count }
    var kind: IndexKind { graph == nil ? .flat : .hnsw }

    // MARK: Changes

    /// Applies one logged change (vectors already normalised).
    func apply(_ op: LogOperation) {
        switch op {
        case .upsert(let docs, let vecs): upsert(docs, vecs)
        case .delete(let ids): delete(ids)
        }
    }

    func upsert(_ docs: [Document], _ vecs: [[Float]]) {
        var appended = false
        for (d, v) in zip(docs, vecs) {
            if let s = slotOf[d.id] {
                if graph == nil {
                    v.withUnsafeBufferPointer { vectors.set(Int(s), $0.baseAddress!) }
                    texts[Int(s)] = d.text
                    metadata[Int(s)] = d.metadata
                    continue
                }
                ids[Int(s)] = nil
                texts[Int(s)] = ""
                metadata[Int(s)] = [:]
                tombstones += 1
            }
            let slot = v.withUnsafeBufferPointer { vectors.append($0.baseAddress!) }
            ids.append(d.id)
            texts.append(d.text)
            metadata.append(d.metadata)
            slotOf[d.id] = Int32(slot)
            appended = true
        }
        if appended { graph?.insertAll() }
        maintain()
    }

    func delete(_ remove: [String]) {
        for id in remove {
            guard let s = slotOf.removeValue(forKey: id).map(Int.init) else { continue }
            if graph != nil {
                ids[s] = nil
                texts[s] = ""
                metadata[s] = [:]
                tombstones += 1
                continue
            }
            let last = vectors.count - 1
            vectors.removeBySwappingLast(s)
            if s != last {
                ids[s] = ids[last]
                texts[s] = texts[last]
                metadata[s] = metadata[last]
                slotOf[ids[s]!] = Int32(s)
            }
            ids.removeLast()
            texts.removeLast()
            metadata.removeLast()
        }
        maintain()
    }

    /// Builds the graph when an automatic collection crosses its threshold,
    /// and rebuilds it without tombstones when they reach a fifth of the nodes.
    private func maintain() {
        let wantsGraph: Bool
        switch settings.indexKind {
        case .flat?: wantsGraph = false
        case .hnsw?: wantsGraph = true
        case nil: wantsGraph = graph != nil || liveCount >= settings.hnswThreshold
        }
        if wantsGraph && graph == nil {
            rebuildGraph()
        } else if graph != nil && tombstones > 1000 && tombstones * 5 > vectors.count {
            rebuildGraph()
        }
    }

    /// Drops tombstones and builds a fresh graph over the live rows.
    func rebuildGraph() {
        compact()
        let g = HNSWGraph(vectors: vectors, m: settings.hnsw.m, efConstruction: settings.hnsw.efConstruction)
        g.insertAll()
        graph = g
    }

    private func compact() {
        guard tombstones > 0 else { return }
        var w = 0
        for r in 0..<vectors.count where ids[r] != nil {
            if w != r {
                vectors.set(w, vectors.row(r))
                ids[w] = ids[r]
                texts[w] = texts[r]
                metadata[w] = metadata[r]
                slotOf[ids[w]!] = Int32(w)
            }
            w += 1
        }
        let drop = vectors.count - w
        for _ in 0..<drop { vectors.removeBySwappingLast(vectors.count - 1) }
        ids.removeLast(drop)
        texts.removeLast(drop)
        metadata.removeLast(drop)
        tombstones = 0
    }

    // MARK: Restoring

    /// Installs snapshot contents: per slot an optional document and a vector.
    func restore(slots: [(Document?, [Float])], graph makeGraph: ((VectorStore) -> HNSWGraph?)?) -> Bool {
        for (doc, v) in slots {
            let slot = v.withUnsafeBufferPointer { vectors.append($0.baseAddress!) }
            ids.append(doc?.id)
            texts.append(doc?.text ?? "")
            metadata.append(doc?.metadata ?? [:])
            if let d = doc {
                guard slotOf[d.id] == nil else { return false }
                slotOf[d.id] = Int32(slot)
            } else {
                tombstones += 1
            }
        }
        if let make = makeGraph {
            guard let g = make(vectors), g.nodeCount == vectors.count else { return false }
            graph = g
        } else if tombstones > 0 {
            return false
        }
        maintain()
        return true
    }

    // MARK: Reading

    func document(at slot: Int) -> Document {
        Document(id: ids[slot]!, text: texts[slot], metadata: metadata[slot])
    }

    /// Approximate bytes held per live document by vectors and graph.
    var bytesPerVector: Double {
        guard liveCount > 0 else { return 0 }
        let used = Double(vectors.count * dimensions * 4) + Double(graph?.allocatedBytes ?? 0)
        return used / Double(liveCount)
    }
}
