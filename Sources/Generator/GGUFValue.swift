// MARK: - GGUF metadata values

/// One metadata value of a GGUF file. Arrays keep their element kind so that
/// large vocabularies stay compact (`[String]`, `[Int]`, …).
public enum GGUFValue: Equatable, Sendable {
    case int(Int64, type: UInt32)
    case uint64(UInt64)
    case float(Double, type: UInt32)
    case bool(Bool)
    case string(String)
    case strings([String])
    case ints([Int64], elementType: UInt32)
    case floats([Double], elementType: UInt32)
    case bools([Bool])
    case arrays([GGUFValue])

    /// The value as an `Int`, if it is an integer that fits.
    public var int: Int? {
        switch self {
        case let .int(v, _): return Int(exactly: v)
        case let .uint64(v): return Int(exactly: v)
        default: return nil
        }
    }

    /// The value as a `Double`, if it is a number.
    public var double: Double? {
        switch self {
        case let .float(v, _): return v
        case let .int(v, _): return Double(v)
        case let .uint64(v): return Double(v)
        default: return nil
        }
    }

    /// The value as a `String`, if it is one.
    public var string: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    /// The value as a `Bool`, if it is one.
    public var bool: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }
}

// MARK: - Cursor

/// Bounds-checked little-endian reads over a GGUF image.
struct GGUFCursor {
    let base: UnsafeRawPointer
    let size: Int
    var offset = 0

    var remaining: Int { size - offset }

    func peekU32() -> UInt32 {
        UInt32(littleEndian: base.loadUnaligned(as: UInt32.self))
    }

    mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, n <= remaining else { throw GGUFError.truncated(what) }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        try need(MemoryLayout<T>.size, what)
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func u32(_ what: String) throws -> UInt32 { try read(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try read(UInt64.self, what) }

    /// A u64 count, checked so that `count × minBytesEach` fits in what is left.
    mutating func count(_ what: String, minBytesEach: Int) throws -> Int {
        let c = try u64(what)
        guard c <= UInt64(remaining / max(1, minBytesEach)) else { throw GGUFError.truncated("\(what) (\(c) entries)") }
        return Int(c)
    }

    mutating func string(_ what: String) throws -> String {
        let n = try u64("length of \(what)")
        guard n <= UInt64(remaining) else { throw GGUFError.truncated(what) }
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: Int(n))
        offset += Int(n)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Bytes one element of scalar type `t` occupies (strings: at least 8).
    static func minSize(_ t: UInt32) -> Int? {
        switch t {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12, 8: return 8
        case 9: return 12
        default: return nil
        }
    }

    mutating func value(type t: UInt32, what: String) throws -> GGUFValue {
        switch t {
        case 0: return .int(Int64(try read(UInt8.self, what)), type: t)
        case 1: return .int(Int64(try read(Int8.self, what)), type: t)
        case 2: return .int(Int64(try read(UInt16.self, what)), type: t)
        case 3: return .int(Int64(try read(Int16.self, what)), type: t)
        case 4: return .int(Int64(try read(UInt32.self, what)), type: t)
        case 5: return .int(Int64(try read(Int32.self, what)), type: t)
        case 6: return .float(Double(Float(bitPattern: try read(UInt32.self, what))), type: t)
        case 7: return .bool(try read(UInt8.self, what) != 0)
        case 8: return .string(try string(what))
        case 10: return .uint64(try read(UInt64.self, what))
        case 11: return .int(try read(Int64.self, what), type: t)
        case 12: return .float(Double(bitPattern: try read(UInt64.self, what)), type: t)
        case 9: return try array(what)
        default: throw GGUFError.invalid("metadata \(what) has unknown value type \(t)")
        }
    }

    mutating func array(_ what: String) throws -> GGUFValue {
        let et = try u32("element type of \(what)")
        guard let each = GGUFCursor.minSize(et) else {
            throw GGUFError.invalid("metadata \(what) has unknown element type \(et)")
        }
        let n = try count("elements of \(what)", minBytesEach: each)
        switch et {
        case 8:
            var out: [String] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try string(what)) }
            return .strings(out)
        case 7:
            var out: [Bool] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try read(UInt8.self, what) != 0) }
            return .bools(out)
        case 6, 12:
            var out: [Double] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try value(type: et, what: what).double!) }
            return .floats(out, elementType: et)
        case 9:
            var out: [GGUFValue] = []
            for _ in 0..<n { out.append(try array(what)) }
            return .arrays(out)
        case 10:
            var out: [Int64] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(Int64(bitPattern: try read(UInt64.self, what))) }
            return .ints(out, elementType: et)
        default:
            var out: [Int64] = []
            out.reserveCapacity(n)
            for _ in 0..<n {
                guard case let .int(v, _) = try value(type: et, what: what) else { break }
                out.append(v)
            }
            return .ints(out, elementType: et)
        }
    }
}
