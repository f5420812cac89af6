import Foundation

// MARK: - Write-ahead log
//
// A log is a sequence of segment files `wal-<first LSN, 16 hex digits>.log`
// in one directory. The owner starts a new segment (`rotate`) when it takes
// a snapshot, and deletes the segments a durable snapshot covers.
//
// Segment layout (little-endian):
//   header   magic (8 bytes, the owner's) | version u32 = 1 | parameter u32
//   records  length u32 | crc32c u32 (of the payload) | payload (length bytes)
//   payload  kind u8 (the owner's) | lsn u64 | body (the owner's encoding)
//
// The header's parameter is a number the owner fixes for the whole log
// (the Index stores the vector dimensions there) and checks on recovery.
// LSNs increase by one per record. Recovery replays records after the
// owner's snapshot LSN; a record that is cut short or fails its checksum at
// the end of the newest segment is a torn write (never acknowledged) and is
// cut off; a bad record anywhere else is corruption. How the Index uses it
// (log, commit, apply, snapshot): docs/architecture.md, "The index write path".

/// A durable, append-only log of records with group commit.
///
/// `append` writes a record and answers its LSN; `commit` returns once that
/// record is on stable storage, sharing one fsync among concurrent callers.
/// After a failed write the record is cut off again; after a failed fsync
/// the log refuses every later write (`StorageError.unavailable`) until it
/// is reopened, because the kernel may have dropped the unsynced pages.
public final class WriteAheadLog: @unchecked Sendable {
    /// What the log's segment headers say, fixed by its owner.
    public struct Format: Sendable {
        /// Eight bytes that open every segment, naming the owner's format.
        public var magic: [UInt8]
        /// A number fixed for the whole log, checked on recovery.
        public var parameter: UInt32
        /// What `parameter` means, for error messages (e.g. "dimensions").
        public var parameterName: String

        /// A format; `magic` must be 8 bytes.
        public init(magic: [UInt8], parameter: UInt32, parameterName: String) {
            precondition(magic.count == 8, "a log magic is 8 bytes")
            self.magic = magic
            self.parameter = parameter
            self.parameterName = parameterName
        }
    }

    /// One record read back during recovery. `body` is valid only inside
    /// the `recover` callback.
    public struct Record {
        /// The record's log sequence number.
        public var lsn: UInt64
        /// The owner's record kind.
        public var kind: UInt8
        /// The owner's encoding of the record.
        public var body: UnsafeRawBufferPointer

        /// A reader over `body`.
        public var reader: ByteReader { ByteReader(body.baseAddress!, count: body.count) }
    }

    /// The segment layout's version.
    public static let version: UInt32 = 1
    /// Bytes in a segment header.
    public static let headerSize = 16
    /// Largest record accepted on replay (bigger ones are corruption).
    public static let maxRecordBytes = 1 << 30

    /// The directory holding the segments.
    public let directory: String
    /// The segment header's contents.
    public let format: Format
    let faults: FaultInjection?

    // Guarded by `monitor`; `commit` waits on it for a running fsync.
    private let monitor = Monitor()
    private var fd: Int32 = -1
    private var path = ""
    private var size = 0
    private var segmentStart: UInt64 = 1
    private var lastLSN: UInt64 = 0
    private var durableLSN: UInt64 = 0
    private var syncing = false
    private var failure: StorageError?
    private var appendedSinceRotate = 0

    /// Bytes appended since the last `rotate`.
    public var bytesSinceRotate: Int { monitor.locked { appendedSinceRotate } }

    /// A log in `directory`; call `recover` before appending.
    public init(directory: String, format: Format, faults: FaultInjection? = nil) {
        self.directory = directory
        self.format = format
        self.faults = faults
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Closes the open segment; later appends fail with `unavailable`
    /// saying `reason`.
    public func close(reason: String = "the log was closed") {
        monitor.locked {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
            failure = failure ?? .unavailable(reason)
        }
    }

    /// The file name of the segment whose first record is `start`.
    public static func segmentName(_ start: UInt64) -> String {
        let hex = String(start, radix: 16)
        return "wal-" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".log"
    }

    /// Segment files in the directory with their first LSN, oldest first.
    public func segments() -> [(start: UInt64, path: String)] {
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
    ///
    /// A `FormatError` thrown by `apply` (the owner could not decode a body)
    /// becomes `StorageError.corruptLog` naming the record; other errors
    /// from `apply` pass through.
    public func recover(after snapshotLSN: UInt64, apply: (Record) throws -> Void) throws {
        let segs = segments()
        if let first = segs.first, first.start > snapshotLSN + 1 {
            throw StorageError.corruptLog(
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
        try monitor.locked { () throws(StorageError) in
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
    }

    /// Replays one segment; returns the byte length of its good prefix and
    /// the last LSN seen.
    private func replay(
        _ bytes: [UInt8], path: String, newest: Bool, after snapshotLSN: UInt64, last: UInt64,
        apply: (Record) throws -> Void
    ) throws -> (Int, UInt64) {
        try bytes.withUnsafeBytes { buf in
            var lastSeen = last
            guard buf.count >= WriteAheadLog.headerSize else {
                if newest { return (0, lastSeen) }
                throw StorageError.corruptLog(path: path, reason: "segment shorter than its header")
            }
            guard Array(buf[0..<8]) == format.magic else {
                throw StorageError.corruptLog(path: path, reason: "bad magic")
            }
            var r = ByteReader(buf.baseAddress!, count: buf.count)
            r.offset = 8
            let version = try r.u32(), parameter = try r.u32()
            guard version == WriteAheadLog.version else {
                throw StorageError.corruptLog(path: path, reason: "version \(version), this build reads \(WriteAheadLog.version)")
            }
            guard parameter == format.parameter else {
                throw StorageError.corruptLog(
                    path: path, reason: "\(format.parameterName) \(parameter), expected \(format.parameter)")
            }
            var offset = WriteAheadLog.headerSize
            while offset < buf.count {
                guard let (payload, next) = record(buf, at: offset) else {
                    // A bad record with a good one right after it is not a torn tail.
                    let laterGood = nextRecordIsGood(buf, after: offset)
                    if newest && !laterGood { return (offset, lastSeen) }
                    throw StorageError.corruptLog(path: path, reason: "bad record at byte \(offset)")
                }
                let kind = payload.load(fromByteOffset: 0, as: UInt8.self)
                let lsn = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 1, as: UInt64.self))
                if lastSeen > 0 && lsn != lastSeen + 1 && lsn > snapshotLSN {
                    throw StorageError.corruptLog(path: path, reason: "LSN \(lsn) follows \(lastSeen)")
                }
                if lsn > snapshotLSN {
                    do {
                        try apply(Record(lsn: lsn, kind: kind, body: UnsafeRawBufferPointer(rebasing: payload[9...])))
                    } catch let e as FormatError {
                        throw StorageError.corruptLog(path: path, reason: "record at byte \(offset): \(e.reason)")
                    }
                }
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

    // MARK: Appending and group commit

    /// A whole record: length, checksum, kind, LSN and the body `encode` writes.
    static func encode(kind: UInt8, lsn: UInt64, body encode: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter()
        w.u32(0)
        w.u32(0)
        w.u8(kind)
        w.u64(lsn)
        encode(&w)
        let len = w.bytes.count - 8
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum($0.baseAddress! + 8, len) }
        withUnsafeBytes(of: UInt32(len).littleEndian) { for i in 0..<4 { w.bytes[i] = $0[i] } }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { w.bytes[4 + i] = $0[i] } }
        return w.bytes
    }

    /// Creates segment `start` with its header, durably, and appends there
    /// from now on. Call holding `monitor`.
    private func openSegment(start: UInt64) throws(StorageError) {
        let p = directory + "/" + WriteAheadLog.segmentName(start)
        let f = try FileIO.open(p, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do throws(StorageError) {
            var w = ByteWriter()
            w.bytes = format.magic
            w.u32(WriteAheadLog.version)
            w.u32(format.parameter)
            try FileIO.writeAll(f, w.bytes, path: p, faults: faults)
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

    /// Writes a record of `kind` whose body `encode` writes (not yet
    /// durable: call `commit`) and returns its LSN. A failed write is cut
    /// off again, so the log stays a clean sequence.
    public func append(kind: UInt8, body encode: (inout ByteWriter) -> Void) throws(StorageError) -> UInt64 {
        try monitor.locked { () throws(StorageError) -> UInt64 in
            if let f = failure { throw StorageError.unavailable(unavailableReason(f)) }
            let lsn = lastLSN + 1
            let bytes = WriteAheadLog.encode(kind: kind, lsn: lsn, body: encode)
            do throws(StorageError) {
                try FileIO.writeAll(fd, bytes, path: path, faults: faults)
            } catch {
                do throws(StorageError) {
                    try FileIO.truncate(fd, to: size, path: path)
                    try FileIO.seekEnd(fd, to: size, path: path)
                } catch _ {
                    failure = error
                }
                throw error
            }
            size += bytes.count
            appendedSinceRotate += bytes.count
            lastLSN = lsn
            return lsn
        }
    }

    /// Why writes stop after `failure`.
    private func unavailableReason(_ failure: StorageError) -> String {
        if case .unavailable(let reason) = failure { return reason }
        return failure.message
    }

    /// Returns once record `lsn` is on stable storage. Concurrent callers
    /// share one fsync: the first becomes the leader and syncs everything
    /// written so far; the rest wait for it. After a failed fsync the log
    /// refuses further writes (the kernel may have dropped the dirty pages,
    /// so retrying could acknowledge lost data).
    public func commit(_ lsn: UInt64) throws(StorageError) {
        let (target, file, filePath) = try monitor.locked { () throws(StorageError) -> (UInt64, Int32, String) in
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
        var syncError: StorageError?
        do throws(StorageError) {
            try FileIO.sync(file, path: filePath, faults: faults)
        } catch {
            syncError = error
        }
        try monitor.locked { () throws(StorageError) in
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
    public func rotate() throws(StorageError) -> UInt64 {
        try monitor.locked { () throws(StorageError) -> UInt64 in
            while syncing { monitor.wait() }
            if let f = failure { throw StorageError.unavailable(unavailableReason(f)) }
            if durableLSN < lastLSN {
                try FileIO.sync(fd, path: path, faults: faults)
                durableLSN = lastLSN
            }
            if size > WriteAheadLog.headerSize { try openSegment(start: lastLSN + 1) }
            return lastLSN
        }
    }

    /// Deletes segments whose records all have LSN ≤ `lsn` (a durable
    /// snapshot covers them), never the one being appended to.
    public func removeSegments(coveredBy lsn: UInt64) throws(StorageError) {
        let current = monitor.locked { segmentStart }
        for seg in segments() where seg.start < current && seg.start <= lsn {
            unlink(seg.path)
        }
        try FileIO.syncDirectory(directory, faults: nil)
    }
}
