import Foundation
import Storage

// MARK: - A collection's write-ahead log
//
// The generic log of the Storage module (WriteAheadLog.swift there: segment
// files, checksummed records, group commit) with the collection's record
// bodies. Segment header: magic "RSIXWAL\0", the parameter is the vector
// dimensions. Record kinds and bodies (little-endian):
//   1 upsert  count u32, then per document: id string | text string |
//             metadata JSON (ByteWriter.json) | vector f32 × dimensions
//   2 delete  count u32, then ids as strings

/// One logged change.
enum LogOperation {
    /// Documents with unit-normalised vectors.
    case upsert([Document], [[Float]])
    /// Ids to delete (missing ones are ignored).
    case delete([String])
}

/// A collection's log: `LogOperation`s in, `IndexError`s out.
final class CollectionLog: Sendable {
    static let magic: [UInt8] = Array("RSIXWAL".utf8) + [0]
    static let upsertKind: UInt8 = 1
    static let deleteKind: UInt8 = 2

    let dimensions: Int
    private let wal: WriteAheadLog

    init(directory: String, dimensions: Int, faults: FaultInjection?) {
        self.dimensions = dimensions
        wal = WriteAheadLog(
            directory: directory,
            format: .init(magic: Self.magic, parameter: UInt32(dimensions), parameterName: "dimensions"),
            faults: faults)
    }

    /// Bytes appended since the last snapshot started.
    var bytesSinceRotate: Int { wal.bytesSinceRotate }

    /// Replays the operations after `snapshotLSN`, cuts off a torn tail and
    /// opens the log for appending.
    func recover(after snapshotLSN: UInt64, apply: (UInt64, LogOperation) throws -> Void) throws {
        try indexErrors {
            try wal.recover(after: snapshotLSN) { record in
                var r = record.reader
                try apply(record.lsn, try decode(kind: record.kind, &r))
            }
        }
    }

    /// Writes `op` (not yet durable) and returns its LSN.
    func append(_ op: LogOperation) throws -> UInt64 {
        let dimensions = self.dimensions
        return try indexErrors {
            switch op {
            case .upsert(let docs, let vectors):
                return try wal.append(kind: Self.upsertKind) { w in
                    w.u32(UInt32(docs.count))
                    for (d, v) in zip(docs, vectors) {
                        w.string(d.id)
                        w.string(d.text)
                        w.json(.object(d.metadata))
                        v.withUnsafeBufferPointer { w.floats($0.baseAddress!, dimensions) }
                    }
                }
            case .delete(let ids):
                return try wal.append(kind: Self.deleteKind) { w in
                    w.u32(UInt32(ids.count))
                    for id in ids { w.string(id) }
                }
            }
        }
    }

    /// Returns once record `lsn` is durable (see `WriteAheadLog.commit`).
    func commit(_ lsn: UInt64) throws { try indexErrors { try wal.commit(lsn) } }

    /// Starts a new segment; returns the last LSN of the closed ones.
    func rotate() throws -> UInt64 { try indexErrors { try wal.rotate() } }

    /// Deletes segments a durable snapshot up to `lsn` covers.
    func removeSegments(coveredBy lsn: UInt64) throws { try indexErrors { try wal.removeSegments(coveredBy: lsn) } }

    /// Stops accepting writes.
    func close() { wal.close(reason: "collection was closed") }

    private func decode(kind: UInt8, _ r: inout ByteReader) throws -> LogOperation {
        let n = Int(try r.u32("count"))
        switch kind {
        case Self.upsertKind:
            try r.need(n * (8 + dimensions * 4), "documents")
            var docs: [Document] = [], vectors: [[Float]] = []
            for _ in 0..<n {
                let id = try r.string("id"), text = try r.string("text")
                guard case .object(let meta) = try r.json() else { throw FormatError(reason: "metadata is not an object") }
                var v = [Float](repeating: 0, count: dimensions)
                try v.withUnsafeMutableBufferPointer { try r.floats(into: $0.baseAddress!, dimensions) }
                docs.append(Document(id: id, text: text, metadata: meta))
                vectors.append(v)
            }
            return .upsert(docs, vectors)
        case Self.deleteKind:
            try r.need(n * 4, "ids")
            var ids: [String] = []
            for _ in 0..<n { ids.append(try r.string("id")) }
            return .delete(ids)
        default:
            throw FormatError(reason: "unknown record kind \(kind)")
        }
    }
}
