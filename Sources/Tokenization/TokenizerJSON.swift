// A small JSON reader for tokenizer files (RFC 8259).
//
// Why not JSONSerialization: it returns `[String: Any]`, and Swift string
// keys compare by canonical equivalence, so two vocabulary entries that
// differ only in Unicode normalisation ("é" as U+00E9 and as e + U+0301,
// which tokenizers keeps apart) would silently merge. Here an object is an
// ordered list of (key, value) pairs and every key keeps its exact scalars.
// It is also several times faster on a 30k-entry vocabulary.
//
// Checked before trust: valid UTF-8 throughout, no unescaped control
// characters, escapes well formed (surrogates paired), nesting at most
// `maxDepth` deep, nothing after the top-level value.

/// A parsed JSON value.
enum TokenizerJSON {
    case object([(key: String, value: TokenizerJSON)])
    case array([TokenizerJSON])
    case string(String)
    /// Integers up to 2^53 are exact.
    case number(Double)
    case bool(Bool)
    case null

    /// The value of `key` in an object (the last one, if repeated), else nil.
    subscript(key: String) -> TokenizerJSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Parses `bytes`; throws `JSONSyntaxError` with the byte offset of the problem.
    static func parse(_ bytes: [UInt8]) throws -> TokenizerJSON {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer)
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.position == buffer.count else { throw parser.error("unexpected data after the JSON value") }
            return value
        }
    }
}

/// Why a JSON text could not be parsed.
struct JSONSyntaxError: Error, CustomStringConvertible {
    let offset: Int
    let reason: String
    var description: String { "\(reason) at byte \(offset)" }
}

private struct JSONParser {
    static let maxDepth = 256
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: position, reason: position >= bytes.count ? "unexpected end of data" : reason)
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws -> TokenizerJSON {
        guard depth < Self.maxDepth else { throw error("nested more than \(Self.maxDepth) deep") }
        skipWhitespace()
        guard position < bytes.count else { throw error("unexpected end of data") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character")
        }
    }

    private mutating func object(depth: Int) throws -> TokenizerJSON {
        position += 1
        var members: [(key: String, value: TokenizerJSON)] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try string()
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "expected ':'")
            members.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of data") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "}"), "expected ',' or '}'")
            return .object(members)
        }
    }

    private mutating func array(depth: Int) throws -> TokenizerJSON {
        position += 1
        var elements: [TokenizerJSON] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of data") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "]"), "expected ',' or ']'")
            return .array(elements)
        }
    }

    private mutating func expect(_ byte: UInt8, _ reason: String) throws {
        guard position < bytes.count, bytes[position] == byte else { throw error(reason) }
        position += 1
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard position + n <= bytes.count else { throw error("unexpected end of data") }
        for k in 0..<n where bytes[position + k] != word.utf8Start[k] { throw error("invalid literal") }
        position += n
    }

    private mutating func number() throws -> Double {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        var integer = true
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.position
            while p.position < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.position]) { p.position += 1 }
            return p.position - s
        }
        guard digits(&self) > 0 else { throw error("invalid number") }
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            position += 1
            integer = false
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        if position < bytes.count && (bytes[position] | 0x20) == UInt8(ascii: "e") {
            position += 1
            integer = false
            if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) { position += 1 }
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        let text = UnsafeBufferPointer(rebasing: bytes[start..<position])
        if integer && text.count <= 15 {
            var v = 0
            for d in text where d != UInt8(ascii: "-") { v = v * 10 + Int(d - UInt8(ascii: "0")) }
            return Double(text[0] == UInt8(ascii: "-") ? -v : v)
        }
        guard let v = Double(String(decoding: text, as: UTF8.self)) else { throw error("invalid number") }
        return v
    }

    private mutating func string() throws -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes.
        while position < bytes.count {
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<position])
                position += 1
                guard let s = String(validating: raw, as: UTF8.self) else { throw JSONSyntaxError(offset: start, reason: "invalid UTF-8 in a string") }
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("unescaped control character in a string") }
            position += 1
        }
        var out = Array(bytes[start..<position])
        while position < bytes.count {
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                position += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw JSONSyntaxError(offset: start, reason: "invalid UTF-8 in a string") }
                return s
            }
            if b < 0x20 { throw error("unescaped control character in a string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                position += 1
                continue
            }
            position += 1
            guard position < bytes.count else { break }
            let e = bytes[position]
            position += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var c = try hex4()
                if (0xD800...0xDBFF).contains(c) {
                    guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate escape")
                    }
                    position += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate escape") }
                    c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(c) {
                    throw error("unpaired surrogate escape")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(c)!)).utf8)
            default:
                throw error("invalid escape")
            }
        }
        throw error("unexpected end of data")
    }

    private mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("unexpected end of data") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let d = bytes[position]
            let x: UInt8
            switch d {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): x = d - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): x = d - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): x = d - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | UInt32(x)
            position += 1
        }
        return v
    }
}
