import Foundation
import Storage

// MARK: - Snapshot file
//
// `snapshot.bin`, written atomically (temporary file, fsync, rename, fsync
// of the directory). Little-endian:
//
//   magic "RSIXSNAP" (8) | version u32 = 1 | dimensions u32 | lsn u64 |
//   slots u64 | flags u32 (bit 0: an HNSW graph follows)
//   per slot: live u8 (0/1) | if live: id string | text string | metadata JSON
//             | vector f32 × dimensions (tombstones keep theirs: graph nodes)
//   graph:    m u32 | efConstruction u32 | entry point i32 | max level i32 |
//             levels i32 × slots | level-0 links i32 × slots × (1 + 2m) |
//             upper-link count u64 | upper links i32 × count
//   crc32c u32 of every byte before it
//
// Strings are u32 byte length + UTF-8; JSON as `ByteWriter.json`. On load
// the checksum is verified first, then every count against the bytes left.

enum Snapshot {
    static let magic: [UInt8] = Array("RSIXSNAP".utf8)
    static let version: UInt32 = 1
    static let fileName = "snapshot.bin"

    /// The snapshot's bytes for `state`.
    static func encode(_ state: CollectionState) -> [UInt8] {
        var w = ByteWriter()
        w.bytes.reserveCapacity(64 + state.vectors.count * (state.dimensions * 4 + 64))
        w.bytes += magic
        w.u32(version)
        w.u32(UInt32(state.dimensions))
        w.u64(state.appliedLSN)
        let slots = state.vectors.count
        w.u64(UInt64(slots))
        w.u32(state.graph == nil ? 0 : 1)
        for s in 0..<slots {
            if let id = state.ids[s] {
                w.u8(1)
                w.string(id)
                w.string(state.texts[s])
                w.json(.object(state.metadata[s]))
            } else {
                w.u8(0)
            }
            w.floats(state.vectors.row(s), state.dimensions)
        }
        if let g = state.graph {
            w.u32(UInt32(g.m))
            w.u32(UInt32(g.efConstruction))
            w.i32(g.entryPoint)
            w.i32(g.maxLevel)
            w.int32s(Array(UnsafeBufferPointer(start: g.levels, count: g.nodeCount)))
            w.int32s(g.level0LinksFlat())
            let upper = g.upperLinksFlat()
            w.u64(UInt64(upper.count))
            w.int32s(upper)
        }
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Reads a snapshot into a fresh state; throws `corruptSnapshot` naming
    /// the first check that fails.
    static func decode(
        _ bytes: [UInt8], path: String, dimensions: Int, settings: CollectionSettings
    ) throws -> CollectionState {
        func corrupt(_ reason: String) -> IndexError { .corruptSnapshot(path: path, reason: reason) }
        guard bytes.count >= 36 else { throw corrupt("file is \(bytes.count) bytes, shorter than the header") }
        guard Array(bytes[0..<8]) == magic else { throw corrupt("bad magic (not a Ranksmith index snapshot)") }
        let body = bytes.count - 4
        let stored = bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: body, as: UInt32.self)) }
        let actual = bytes.withUnsafeBytes { CRC32C.checksum($0.baseAddress!, body) }
        guard stored == actual else { throw corrupt("checksum mismatch (stored \(stored), computed \(actual))") }
        do {
            return try bytes.withUnsafeBytes { buf in
                var r = ByteReader(buf.baseAddress!, count: body)
                r.offset = 8
                let v = try r.u32("version")
                guard v == version else { throw FormatError(reason: "version \(v), this build reads \(version)") }
                let dims = Int(try r.u32("dimensions"))
                guard dims == dimensions else { throw FormatError(reason: "dimensions \(dims), collection has \(dimensions)") }
                let lsn = try r.u64("lsn")
                let slots64 = try r.u64("slots")
                let flags = try r.u32("flags")
                guard slots64 <= UInt64(r.remaining / (1 + dims * 4)) else {
                    throw FormatError(reason: "\(slots64) slots do not fit in \(r.remaining) bytes")
                }
                let slots = Int(slots64)
                var entries: [(Document?, [Float])] = []
                entries.reserveCapacity(slots)
                for _ in 0..<slots {
                    var doc: Document?
                    if try r.u8("live flag") != 0 {
                        let id = try r.string("id"), text = try r.string("text")
                        guard case .object(let meta) = try r.json() else { throw FormatError(reason: "metadata is not an object") }
                        doc = Document(id: id, text: text, metadata: meta)
                    }
                    var vec = [Float](repeating: 0, count: dims)
                    try vec.withUnsafeMutableBufferPointer { try r.floats(into: $0.baseAddress!, dims) }
                    entries.append((doc, vec))
                }
                var makeGraph: ((VectorStore) -> HNSWGraph?)?
                if flags & 1 != 0 {
                    let m = Int(try r.u32("m")), efc = Int(try r.u32("efConstruction"))
                    guard m >= 2, m <= 128, efc >= 1 else { throw FormatError(reason: "graph parameters m=\(m) ef=\(efc)") }
                    let entry = try r.i32("entry point"), maxLevel = try r.i32("max level")
                    let levels = try r.int32s(slots, "levels")
                    let level0 = try r.int32s(slots * (1 + 2 * m), "level-0 links")
                    let upperCount = try r.u64("upper-link count")
                    guard upperCount <= UInt64(r.remaining / 4) else { throw FormatError(reason: "upper links overrun the file") }
                    let upper = try r.int32s(Int(upperCount), "upper links")
                    makeGraph = { store in
                        HNSWGraph.restore(
                            vectors: store, m: m, efConstruction: efc, entryPoint: entry, maxLevel: maxLevel,
                            levels: levels, level0: level0, upperLinks: upper)
                    }
                }
                guard r.remaining == 0 else { throw FormatError(reason: "\(r.remaining) unexpected bytes before the checksum") }
                let state = CollectionState(dimensions: dims, settings: settings)
                guard state.restore(slots: entries, graph: makeGraph) else {
                    throw FormatError(reason: "graph links or document ids are inconsistent")
                }
                state.appliedLSN = lsn
                return state
            }
        } catch let e as FormatError {
            throw corrupt(e.reason)
        }
    }
}
