import Foundation
import Storage

// MARK: - JSON values in binary records

extension ByteWriter {
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

extension ByteReader {
    /// A value written by `ByteWriter.json`, nested at most 64 deep.
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
