import Foundation

// MARK: - CRC-32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
/// iSCSI, ext4 and LevelDB logs; slicing-by-8 in software.
enum CRC32C {
    private static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for s in 1..<8 { t[s][i] = (t[s - 1][i] >> 8) ^ t[0][Int(t[s - 1][i] & 0xFF)] }
        }
        return t
    }()

    /// The checksum of `count` bytes at `p`, continuing from `crc` (0 to start).
    static func checksum(_ p: UnsafeRawPointer, _ count: Int, crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        var i = 0
        tables.withUnsafeBufferPointer { t in
            let t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3], t4 = t[4], t5 = t[5], t6 = t[6], t7 = t[7]
            while i + 8 <= count {
                let lo = p.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian ^ c
                let hi = p.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian
                c = t7[Int(lo & 0xFF)] ^ t6[Int((lo >> 8) & 0xFF)] ^ t5[Int((lo >> 16) & 0xFF)] ^ t4[Int(lo >> 24)]
                    ^ t3[Int(hi & 0xFF)] ^ t2[Int((hi >> 8) & 0xFF)] ^ t1[Int((hi >> 16) & 0xFF)] ^ t0[Int(hi >> 24)]
                i += 8
            }
            while i < count {
                c = (c >> 8) ^ t0[Int((c ^ UInt32(p.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)]
                i += 1
            }
        }
        return ~c
    }

    /// The checksum of a byte array.
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0.baseAddress!, $0.count) }
    }
}

// MARK: - Writing

/// Little-endian binary writer for log records and snapshots.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }

    /// u32 byte length, then UTF-8.
    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { u in
            u32(UInt32(u.count))
            bytes.append(contentsOf: u)
        }
    }

    mutating func floats(_ p: UnsafePointer<Float>, _ count: Int) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: p, count: count * 4))
    }

    mutating func int32s(_ a: [Int32]) {
        a.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// Tag byte (0 null, 1 false, 2 true, 3 number f64, 4 string, 5 array
    /// u32 count + values, 6 object u32 count + (key string, value) pairs
    /// in sorted key order), then the payload.
    mutating func json(_ v: JSONValue) {
        switch v {
        case .null: u8(0)
        case .bool(let b): u8(b ? 2 : 1)
        case .number(let n): u8(3); f64(n)
        case .string(let s): u8(4); string(s)
        case .array(let a):
            u8(5)
            u32(UInt32(a.count))
            for e in a { json(e) }
        case .object(let o):
            u8(6)
            u32(UInt32(o.count))
            for k in o.keys.sorted() {
                string(k)
                json(o[k]!)
            }
        }
    }
}

// MARK: - Reading

/// Why a byte reader stopped: the data is shorter or different than its
/// format says.
struct FormatError: Error {
    var reason: String
}

/// Bounds-checked little-endian reader over a byte buffer; every count is
/// checked against the bytes left before anything is allocated.
struct ByteReader {
    let base: UnsafeRawPointer
    let count: Int
    var offset = 0

    init(_ p: UnsafeRawPointer, count: Int) {
        base = p
        self.count = count
    }

    var remaining: Int { count - offset }

    mutating func need(_ n: Int, _ what: String) throws {
        if n < 0 || n > remaining {
            throw FormatError(reason: "\(what) needs \(n) bytes at offset \(offset), \(remaining) left")
        }
    }

    mutating func u8(_ what: String = "byte") throws -> UInt8 {
        try need(1, what)
        defer { offset += 1 }
        return base.load(fromByteOffset: offset, as: UInt8.self)
    }

    mutating func u32(_ what: String = "u32") throws -> UInt32 {
        try need(4, what)
        defer { offset += 4 }
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func i32(_ what: String = "i32") throws -> Int32 { Int32(bitPattern: try u32(what)) }

    mutating func u64(_ what: String = "u64") throws -> UInt64 {
        try need(8, what)
        defer { offset += 8 }
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func string(_ what: String = "string") throws -> String {
        let n = Int(try u32(what))
        try need(n, what)
        defer { offset += n }
        guard let s = String(validating: UnsafeRawBufferPointer(start: base + offset, count: n), as: UTF8.self) else {
            throw FormatError(reason: "\(what) at offset \(offset) is not UTF-8")
        }
        return s
    }

    mutating func floats(into dst: UnsafeMutablePointer<Float>, _ n: Int, _ what: String = "vector") throws {
        try need(n * 4, what)
        UnsafeMutableRawPointer(dst).copyMemory(from: base + offset, byteCount: n * 4)
        offset += n * 4
    }

    mutating func int32s(_ n: Int, _ what: String) throws -> [Int32] {
        try need(n * 4, what)
        var out = [Int32](repeating: 0, count: n)
        out.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: base + offset, count: n * 4)) }
        offset += n * 4
        return out
    }

    mutating func json(depth: Int = 0) throws -> JSONValue {
        guard depth <= 64 else { throw FormatError(reason: "JSON value nested deeper than 64") }
        switch try u8("json tag") {
        case 0: return .null
        case 1: return .bool(false)
        case 2: return .bool(true)
        case 3: return .number(Double(bitPattern: try u64("number")))
        case 4: return .string(try string())
        case 5:
            let n = Int(try u32("array count"))
            try need(n, "array elements")  // every element takes at least one byte
            var a: [JSONValue] = []
            a.reserveCapacity(n)
            for _ in 0..<n { a.append(try json(depth: depth + 1)) }
            return .array(a)
        case 6:
            let n = Int(try u32("object count"))
            try need(n * 5, "object members")
            var o: [String: JSONValue] = [:]
            o.reserveCapacity(n)
            for _ in 0..<n {
                let k = try string("object key")
                o[k] = try json(depth: depth + 1)
            }
            return .object(o)
        case let t: throw FormatError(reason: "unknown JSON tag \(t) at offset \(offset - 1)")
        }
    }
}
