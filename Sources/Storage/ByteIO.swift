import Foundation

// MARK: - Writing

/// Little-endian binary writer for log records and snapshots (the Index's
/// write-ahead log and snapshot files, and any other owner of a binary format).
public struct ByteWriter {
    /// The bytes written so far.
    public var bytes: [UInt8] = []

    /// An empty writer.
    public init() {}

    /// One byte.
    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    /// Four bytes, little-endian.
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    /// A signed 32-bit integer as its two's-complement `u32`.
    public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    /// Eight bytes, little-endian.
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    /// A double as its IEEE 754 bit pattern (`u64`).
    public mutating func f64(_ v: Double) { u64(v.bitPattern) }

    /// u32 byte length, then UTF-8.
    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { u in
            u32(UInt32(u.count))
            bytes.append(contentsOf: u)
        }
    }

    /// `count` floats from `p`, in the machine's (little-endian) byte order.
    public mutating func floats(_ p: UnsafePointer<Float>, _ count: Int) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: p, count: count * 4))
    }

    /// The array's 32-bit integers, in the machine's (little-endian) byte order.
    public mutating func int32s(_ a: [Int32]) {
        a.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}

// MARK: - Reading

/// Why a byte reader stopped: the data is shorter or different than its
/// format says.
public struct FormatError: Error, Sendable {
    /// What is wrong, with the offset where it was found.
    public var reason: String

    /// An error saying `reason`.
    public init(reason: String) { self.reason = reason }
}

/// Bounds-checked little-endian reader over a byte buffer; every count is
/// checked against the bytes left before anything is allocated.
public struct ByteReader {
    /// The first byte.
    public let base: UnsafeRawPointer
    /// Bytes in the buffer.
    public let count: Int
    /// Where the next read starts.
    public var offset = 0

    /// A reader over `count` bytes at `p`; the caller keeps them alive.
    public init(_ p: UnsafeRawPointer, count: Int) {
        base = p
        self.count = count
    }

    /// Bytes not yet read.
    public var remaining: Int { count - offset }

    /// Throws unless `n` more bytes are left; `what` names them in the error.
    public func need(_ n: Int, _ what: String) throws {
        if n < 0 || n > remaining {
            throw FormatError(reason: "\(what) needs \(n) bytes at offset \(offset), \(remaining) left")
        }
    }

    /// The next byte.
    public mutating func u8(_ what: String = "byte") throws -> UInt8 {
        try need(1, what)
        defer { offset += 1 }
        return base.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// The next little-endian `u32`.
    public mutating func u32(_ what: String = "u32") throws -> UInt32 {
        try need(4, what)
        defer { offset += 4 }
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// The next little-endian `i32`.
    public mutating func i32(_ what: String = "i32") throws -> Int32 { Int32(bitPattern: try u32(what)) }

    /// The next little-endian `u64`.
    public mutating func u64(_ what: String = "u64") throws -> UInt64 {
        try need(8, what)
        defer { offset += 8 }
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// A `u32` byte length, then that many bytes of valid UTF-8.
    public mutating func string(_ what: String = "string") throws -> String {
        let n = Int(try u32(what))
        try need(n, what)
        defer { offset += n }
        guard let s = String(validating: UnsafeRawBufferPointer(start: base + offset, count: n), as: UTF8.self) else {
            throw FormatError(reason: "\(what) at offset \(offset) is not UTF-8")
        }
        return s
    }

    /// Copies the next `n` floats into `dst`.
    public mutating func floats(into dst: UnsafeMutablePointer<Float>, _ n: Int, _ what: String = "vector") throws {
        try need(n * 4, what)
        UnsafeMutableRawPointer(dst).copyMemory(from: base + offset, byteCount: n * 4)
        offset += n * 4
    }

    /// The next `n` 32-bit integers.
    public mutating func int32s(_ n: Int, _ what: String) throws -> [Int32] {
        try need(n * 4, what)
        var out = [Int32](repeating: 0, count: n)
        out.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: base + offset, count: n * 4)) }
        offset += n * 4
        return out
    }
}
