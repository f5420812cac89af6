import Foundation

// MARK: - Write-ahead log
//
// A collection's log is a sequence of segment files `wal-<first LSN, 16 hex
// digits>.log`. A new segment starts at every snapshot; segments wholly
// covered by a durable snapshot are deleted.
//
// Segment layout (little-endian):
//   header   magic "RSIXWAL\0" (8) | version u32 = 1 | dimensions u32
//   records  length u32 | crc32c u32 (of the payload) | payload (length bytes)
//   payload  kind u8 (1 upsert, 2 delete) | lsn u64 | body
//   upsert   count u32, then per document: id string | text string |
//            metadata JSON (ByteWriter.json) | vector f32 × dimensions
//   delete   count u32, then ids as strings
//
// LSNs increase by one per record. Recovery replays records after the
// snapshot's LSN; a record that is cut short or fails its checksum at the
// end of the newest segment is a torn write (never acknowledged) and is cut
// off; a bad record anywhere else is corruption.

/// One logged change.
enum LogOperation {
    /// Documents with unit-normalised vectors.
    case upsert([Document], [[Float]])
    /// Ids to delete (missing ones are ignored).
    case delete([String])
}

final class WriteAheadLog: @unchecked Sendable {
    static let magic: [UInt8] = Array("RSIXWAL".utf8) + [0]
    static let version: UInt32 = 1
    static let headerSize = 16
    /// Largest record accepted on replay (bigger ones are corruption).
    static let maxRecordBytes = 1 << 30

    let directory: String
    let dimensions: Int
    let faults: FaultInjection?

    private let monitor = Monitor()
    private var fd: Int32 = -1
    private var path = ""
    private var size = 0
    private var segmentStart: UInt64 = 1
    private var lastLSN: UInt64 = 0
    private var durableLSN: UInt64 = 0
    private var syncing = false
    private var failure: IndexError?
    private var appendedSinceRotate = 0

    /// Bytes appended since the last snapshot started.
    var bytesSinceRotate: Int { monitor.locked { appendedSinceRotate } }

    init(directory: String, dimensions: Int, faults: FaultInjection?) {
        self.directory = directory
        self.dimensions = dimensions
        self.faults = faults
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Closes the open segment; later appends fail.
    func close() {
        monitor.locked {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
            failure = failure ?? .unavailable("collection was closed")
        }
    }

    static func segmentName(_ start: UInt64) -> String {
        "wal-" + String(start, radix: 16).leftPadded(to: 16) + ".log"
    }

    /// Segment files in the directory with their first LSN, oldest first.
    func segments() throws -> [(start: UInt64, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var out: [(UInt64, String)] = []
        for n in names where n.hasPrefix("wal-") && n.hasSuffix(".log") {
            let hex = n.dropFirst(4).dropLast(4)
            guard hex.count == 16, let start = UInt64(hex, radix: 16) else { continue }
            out.append((start, directory + "/" + n))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    // MARK: Recovery

    /// Replays every record after `snapshotLSN` through `apply`, cuts off a
    /// torn tail, and opens the newest segment for appending.
    func recover(after snapshotLSN: UInt64, apply: (UInt64, LogOperation) throws -> Void) throws {
        let segs = try segments()
        if let first = segs.first, first.start > snapshotLSN + 1 {
            throw IndexError.corruptLog(
                path: first.path,
                reason: "log starts at LSN \(first.start) but the snapshot ends at \(snapshotLSN): records are missing")
        }
        var last = snapshotLSN
        var tailSize = 0
        for (i, seg) in segs.enumerated() {
            let newest = i == segs.count - 1
            guard let bytes = try FileIO.readFile(seg.path) else { continue }
            let (good, endLSN) = try replay(bytes, path: seg.path, newest: newest, after: snapshotLSN, last: last, apply: apply)
            last = max(last, endLSN)
            if newest { tailSize = good }
        }
        lastLSN = last
        durableLSN = last
        if let newest = segs.last, tailSize >= WriteAheadLog.headerSize {
            fd = try FileIO.open(newest.path, flags: O_WRONLY)
            path = newest.path
            segmentStart = newest.start
            try FileIO.truncate(fd, to: tailSize, path: path)
            try FileIO.sync(fd, path: path, faults: faults)
            try FileIO.seekEnd(fd, to: tailSize, path: path)
            size = tailSize
        } else {
            if let newest = segs.last { unlink(newest.path) }  // torn header: nothing in it was acknowledged
            try openSegment(start: last + 1)
        }
    }

    /// Replays one segment; returns the byte length of its good prefix and
    /// the last LSN seen.
    private func replay(
        _ bytes: [UInt8], path: String, newest: Bool, after snapshotLSN: UInt64, last: UInt64,
        apply: (UInt64, LogOperation) throws -> Void
    ) throws -> (Int, UInt64) {
        try bytes.withUnsafeBytes { buf in
            var lastSeen = last
            guard buf.count >= WriteAheadLog.headerSize else {
                if newest { return (0, lastSeen) }
                throw IndexError.corruptLog(path: path, reason: "segment shorter than its header")
            }
            guard Array(buf[0..<8]) == WriteAheadLog.magic else {
                throw IndexError.corruptLog(path: path, reason: "bad magic")
            }
            var r = ByteReader(buf.baseAddress!, count: buf.count)
            r.offset = 8
            let version = try! r.u32(), dims = try! r.u32()
            guard version == WriteAheadLog.version else {
                throw IndexError.corruptLog(path: path, reason: "version \(version), this build reads \(WriteAheadLog.version)")
            }
            guard Int(dims) == dimensions else {
                throw IndexError.corruptLog(path: path, reason: "dimensions \(dims), collection has \(dimensions)")
            }
            var offset = WriteAheadLog.headerSize
            while offset < buf.count {
                guard let (payload, next) = record(buf, at: offset) else {
                    // A bad record with a good one right after it is not a torn tail.
                    let laterGood = nextRecordIsGood(buf, after: offset)
                    if newest && !laterGood { return (offset, lastSeen) }
                    throw IndexError.corruptLog(path: path, reason: "bad record at byte \(offset)")
                }
                let (lsn, op): (UInt64, LogOperation)
                do {
                    (lsn, op) = try decode(payload)
                } catch let e as FormatError {
                    throw IndexError.corruptLog(path: path, reason: "record at byte \(offset): \(e.reason)")
                }
                if lastSeen > 0 && lsn != lastSeen + 1 && lsn > snapshotLSN {
                    throw IndexError.corruptLog(path: path, reason: "LSN \(lsn) follows \(lastSeen)")
                }
                if lsn > snapshotLSN { try apply(lsn, op) }
                lastSeen = max(lastSeen, lsn)
                offset = next
            }
            return (offset, lastSeen)
        }
    }

    /// The payload of the record at `offset` if it is whole and its checksum holds.
    private func record(_ buf: UnsafeRawBufferPointer, at offset: Int) -> (UnsafeRawBufferPointer, Int)? {
        guard offset + 8 <= buf.count else { return nil }
        let len = Int(UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        let crc = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        guard len >= 9, len <= WriteAheadLog.maxRecordBytes, offset + 8 + len <= buf.count else { return nil }
        let p = UnsafeRawBufferPointer(rebasing: buf[(offset + 8)..<(offset + 8 + len)])
        guard CRC32C.checksum(p.baseAddress!, len) == crc else { return nil }
        return (p, offset + 8 + len)
    }

    private func nextRecordIsGood(_ buf: UnsafeRawBufferPointer, after offset: Int) -> Bool {
        guard offset + 8 <= buf.count else { return false }
        let len = Int(UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        guard len >= 9, len <= WriteAheadLog.maxRecordBytes else { return false }
        return record(buf, at: offset + 8 + len) != nil
    }

    // MARK: Encoding

    func encode(_ op: LogOperation, lsn: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.u32(0)
        w.u32(0)
        switch op {
        case .upsert(let docs, let vectors):
            w.u8(1)
            w.u64(lsn)
            w.u32(UInt32(docs.count))
            for (d, v) in zip(docs, vectors) {
                w.string(d.id)
                w.string(d.text)
                w.json(.object(d.metadata))
                v.withUnsafeBufferPointer { w.floats($0.baseAddress!, dimensions) }
            }
        case .delete(let ids):
            w.u8(2)
            w.u64(lsn)
            w.u32(UInt32(ids.count))
            for id in ids { w.string(id) }
        }
        let len = w.bytes.count - 8
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum($0.baseAddress! + 8, len) }
        withUnsafeBytes(of: UInt32(len).littleEndian) { for i in 0..<4 { w.bytes[i] = $0[i] } }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { w.bytes[4 + i] = $0[i] } }
        return w.bytes
    }

    private func decode(_ payload: UnsafeRawBufferPointer) throws -> (UInt64, LogOperation) {
        var r = ByteReader(payload.baseAddress!, count: payload.count)
        let kind = try r.u8("kind")
        let lsn = try r.u64("lsn")
        let n = Int(try r.u32("count"))
        switch kind {
        case 1:
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
            return (lsn, .upsert(docs, vectors))
        case 2:
            try r.need(n * 4, "ids")
            var ids: [String] = []
            for _ in 0..<n { ids.append(try r.string("id")) }
            return (lsn, .delete(ids))
        default:
            throw FormatError(reason: "unknown record kind \(kind)")
        }
    }

    // MARK: Appending and group commit

    private func openSegment(start: UInt64) throws {
        let p = directory + "/" + WriteAheadLog.segmentName(start)
        let f = try FileIO.open(p, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            var w = ByteWriter()
            w.bytes = WriteAheadLog.magic
            w.u32(WriteAheadLog.version)
            w.u32(UInt32(dimensions))
            try w.bytes.withUnsafeBytes { try FileIO.writeAll(f, $0.baseAddress!, $0.count, path: p, faults: faults) }
            try FileIO.sync(f, path: p, faults: faults)
            try FileIO.syncDirectory(directory, faults: faults)
        } catch {
            Glibc.close(f)
            unlink(p)
            throw error
        }
        if fd >= 0 { Glibc.close(fd) }
        fd = f
        path = p
        size = WriteAheadLog.headerSize
        segmentStart = start
        appendedSinceRotate = 0
    }

    /// Writes a record (not yet durable) and returns its LSN. A failed
    /// write is cut off again, so the log stays a clean sequence.
    func append(_ op: LogOperation) throws -> UInt64 {
        try monitor.locked {
            if let f = failure { throw IndexError.unavailable(f.message) }
            let lsn = lastLSN + 1
            let bytes = encode(op, lsn: lsn)
            do {
                try bytes.withUnsafeBytes { try FileIO.writeAll(fd, $0.baseAddress!, $0.count, path: path, faults: faults) }
            } catch let e as IndexError {
                do {
                    try FileIO.truncate(fd, to: size, path: path)
                    try FileIO.seekEnd(fd, to: size, path: path)
                } catch {
                    failure = e
                }
                throw e
            }
            size += bytes.count
            appendedSinceRotate += bytes.count
            lastLSN = lsn
            return lsn
        }
    }

    /// Returns once record `lsn` is on stable storage. Concurrent callers
    /// share one fsync: the first becomes the leader and syncs everything
    /// written so far; the rest wait for it. After a failed fsync the log
    /// refuses further writes (the kernel may have dropped the dirty pages,
    /// so retrying could acknowledge lost data).
    func commit(_ lsn: UInt64) throws {
        let (target, file, filePath): (UInt64, Int32, String) = try monitor.locked {
            while true {
                if durableLSN >= lsn { return (0, -1, "") }
                if let f = failure { throw f }
                if !syncing { break }
                monitor.wait()
            }
            syncing = true
            return (lastLSN, fd, path)
        }
        if file < 0 { return }
        var syncError: IndexError?
        do {
            try FileIO.sync(file, path: filePath, faults: faults)
        } catch let e as IndexError {
            syncError = e
        } catch {
            syncError = .ioFailed(path: filePath, operation: "fsync", errno: EIO)
        }
        try monitor.locked {
            syncing = false
            if let e = syncError {
                failure = e
            } else {
                durableLSN = max(durableLSN, target)
            }
            monitor.broadcast()
            if let e = syncError { throw e }
        }
    }

    /// Starts a new segment once everything written is durable; returns the
    /// last LSN of the closed segments.
    func rotate() throws -> UInt64 {
        try monitor.locked {
            while syncing { monitor.wait() }
            if let f = failure { throw IndexError.unavailable(f.message) }
            if durableLSN < lastLSN {
                try FileIO.sync(fd, path: path, faults: faults)
                durableLSN = lastLSN
            }
            if size > WriteAheadLog.headerSize { try openSegment(start: lastLSN + 1) }
            return lastLSN
        }
    }

    /// Deletes segments whose records all have LSN ≤ `lsn` (a durable snapshot covers them).
    func removeSegments(coveredBy lsn: UInt64) throws {
        let current = monitor.locked { segmentStart }
        for seg in try segments() where seg.start < current && seg.start <= lsn {
            unlink(seg.path)
        }
        try FileIO.syncDirectory(directory, faults: nil)
    }
}

extension String {
    func leftPadded(to n: Int) -> String {
        count >= n ? self : String(repeating: "0", count: n - count) + self
    }
}
