// MARK: - One-pass JSON check
//
// A request body is checked here before `JSONDecoder` sees it: syntax,
// nesting depth and duplicate member names, in one linear pass with an
// explicit stack (no recursion, so depth costs nothing but the stack entry).
// The decoder then only ever reads bodies at most `maxDepth` deep, which
// keeps its cost linear in the body size too.

/// What one pass over a JSON body found: either why it can't be accepted,
/// or facts the error messages of the typed decoding need afterwards.
struct JSONCheck {
    /// Why a body is refused.
    enum Failure: Error, Equatable {
        /// Not JSON; `offset` is the byte where reading stopped.
        case syntax(offset: Int, detail: String)
        /// Not UTF-8.
        case notUTF8
        /// Arrays and objects nest deeper than `limit`; `path` is where.
        case tooDeep(limit: Int, path: String)
        /// A member name repeats within one object; `path` names it.
        case duplicateKey(path: String)
    }

    /// A number the typed decoding may refuse, and where it is.
    struct Number: Equatable {
        /// Why an integer field would refuse it.
        enum Kind: Equatable {
            /// Has a fractional part.
            case fractional
            /// Whole, but beyond 64-bit integers.
            case beyondInteger
            /// Beyond 32-bit floats (±3.4e38): no field takes it.
            case beyondFloat
        }
        /// Field path, e.g. `top_k` or `vector[3]`.
        var path: String
        /// The number as sent.
        var text: String
        /// Why it may be refused.
        var kind: Kind
    }

    /// Whether the top-level value is an object.
    private(set) var isObject = false
    /// Numbers that are not whole 64-bit integers (fractional, or too
    /// large), first few only: the decoder names no field when one of them
    /// lands in an integer field, so the error message names these.
    private(set) var inexactNumbers: [Number] = []

    /// How many inexact numbers are remembered.
    private static let keptNumbers = 8

    /// One open array or object.
    private struct Frame {
        var isObject: Bool
        var keys: Set<String> = []
        var key = ""
        var index = 0
    }

    /// Where the reader stands.
    private enum Expect {
        case value
        case valueOrArrayEnd
        case key
        case keyOrObjectEnd
        case commaOrEnd
    }

    // MARK: - Checking

    /// Checks `bytes` as one JSON value nested at most `maxDepth` arrays and
    /// objects deep (the body's own object is level 1).
    static func check(_ bytes: [UInt8], maxDepth: Int) -> Result<JSONCheck, Failure> {
        guard String(validating: bytes, as: UTF8.self) != nil else { return .failure(.notUTF8) }
        return bytes.withUnsafeBufferPointer { p in
            var result = JSONCheck()
            let failure = result.scan(p, maxDepth: max(1, maxDepth))
            return failure.map { .failure($0) } ?? .success(result)
        }
    }

    private mutating func scan(_ p: UnsafeBufferPointer<UInt8>, maxDepth: Int) -> Failure? {
        var stack: [Frame] = []
        var expect = Expect.value
        var i = 0
        let n = p.count
        func skipSpace() {
            while i < n, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
        }
        skipSpace()
        if i < n { isObject = p[i] == UInt8(ascii: "{") }
        while true {
            skipSpace()
            if stack.isEmpty && expect == .commaOrEnd {
                return i == n ? nil : .syntax(offset: i, detail: "unexpected data after the JSON value")
            }
            guard i < n else { return .syntax(offset: i, detail: "the body ends inside a value") }
            let c = p[i]
            // The open array's or object's closing bracket, where one may
            // stand: after a member, or at once (an empty one).
            if !stack.isEmpty, c == (stack[stack.count - 1].isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")),
               expect == .commaOrEnd || expect == .valueOrArrayEnd || expect == .keyOrObjectEnd {
                i += 1
                stack.removeLast()
                expect = .commaOrEnd
                continue
            }
            switch expect {
            case .value, .valueOrArrayEnd:
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    if stack.count >= maxDepth { return .tooDeep(limit: maxDepth, path: JSONCheck.path(stack)) }
                    stack.append(Frame(isObject: c == UInt8(ascii: "{")))
                    i += 1
                    expect = c == UInt8(ascii: "{") ? .keyOrObjectEnd : .valueOrArrayEnd
                    continue
                case UInt8(ascii: "\""):
                    guard let end = JSONCheck.stringEnd(p, from: i) else { return .syntax(offset: i, detail: "a string is not closed or has a bad escape") }
                    i = end
                case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                    let word: [UInt8] = c == UInt8(ascii: "t") ? Array("true".utf8) : c == UInt8(ascii: "f") ? Array("false".utf8) : Array("null".utf8)
                    guard n - i >= word.count, (0..<word.count).allSatisfy({ p[i + $0] == word[$0] }) else {
                        return .syntax(offset: i, detail: "expected true, false or null")
                    }
                    i += word.count
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    let start = i
                    guard let (end, exactInteger) = JSONCheck.numberEnd(p, from: i) else {
                        return .syntax(offset: i, detail: "malformed number")
                    }
                    i = end
                    if !exactInteger { noteNumber(p, start..<end, stack: stack) }
                default:
                    return .syntax(offset: i, detail: "expected a value")
                }
                expect = .commaOrEnd
            case .key, .keyOrObjectEnd:
                guard c == UInt8(ascii: "\""), let end = JSONCheck.stringEnd(p, from: i) else {
                    return .syntax(offset: i, detail: "expected a member name in double quotes")
                }
                let key = JSONCheck.decodeString(UnsafeBufferPointer(rebasing: p[(i + 1)..<(end - 1)]))
                let top = stack.count - 1
                if !stack[top].keys.insert(key).inserted {
                    stack[top].key = key
                    return .duplicateKey(path: JSONCheck.path(stack))
                }
                stack[top].key = key
                i = end
                skipSpace()
                guard i < n, p[i] == UInt8(ascii: ":") else { return .syntax(offset: i, detail: "expected ':' after a member name") }
                i += 1
                expect = .value
            case .commaOrEnd:
                let top = stack.count - 1
                guard c == UInt8(ascii: ",") else {
                    return .syntax(offset: i, detail: stack[top].isObject ? "expected ',' or '}'" : "expected ',' or ']'")
                }
                i += 1
                if stack[top].isObject {
                    expect = .key
                } else {
                    stack[top].index += 1
                    expect = .value
                }
            }
        }
    }

    private mutating func noteNumber(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, stack: [Frame]) {
        guard inexactNumbers.count < JSONCheck.keptNumbers else { return }
        let text = String(decoding: UnsafeBufferPointer(rebasing: p[range]), as: UTF8.self)
        let value = Double(text) ?? .infinity
        let kind: Number.Kind
        if !(abs(value) <= Double(Float.greatestFiniteMagnitude)) {
            kind = .beyondFloat
        } else if value != value.rounded() {
            kind = .fractional
        } else if abs(value) >= 9.2e18 {
            kind = .beyondInteger
        } else {
            return  // 10.0 and 1e3 are whole numbers the decoder takes as integers.
        }
        inexactNumbers.append(Number(path: JSONCheck.path(stack), text: text, kind: kind))
    }

    // MARK: - Pieces

    /// `top_k`, `filter.must[0]`: where the reader is, for messages.
    private static func path(_ stack: [Frame]) -> String {
        var out = ""
        for frame in stack {
            if frame.isObject {
                out += out.isEmpty ? frame.key : ".\(frame.key)"
            } else {
                out += "[\(frame.index)]"
            }
        }
        return out.isEmpty ? "(body)" : out
    }

    /// Offset just past the string starting with the quote at `start`, or
    /// nil when it is unterminated, has a control character or a bad escape.
    private static func stringEnd(_ p: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var i = start + 1
        while i < p.count {
            let c = p[i]
            if c == UInt8(ascii: "\"") { return i + 1 }
            if c < 0x20 { return nil }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < p.count else { return nil }
                switch p[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 6 <= p.count, (2..<6).allSatisfy({ hex(p[i + $0]) != nil }) else { return nil }
                    i += 6
                default:
                    return nil
                }
                continue
            }
            i += 1
        }
        return nil
    }

    /// The text of a string's contents (escapes resolved), so that `"a"`
    /// and `"\u0061"` count as the same member name.
    private static func decodeString(_ s: UnsafeBufferPointer<UInt8>) -> String {
        guard s.contains(UInt8(ascii: "\\")) else { return String(decoding: s, as: UTF8.self) }
        var scalars = String.UnicodeScalarView()
        var bytes: [UInt8] = []
        func flushBytes() {
            scalars.append(contentsOf: String(decoding: bytes, as: UTF8.self).unicodeScalars)
            bytes.removeAll()
        }
        var i = 0
        var pendingHigh: UInt32?
        while i < s.count {
            guard s[i] == UInt8(ascii: "\\") else {
                bytes.append(s[i])
                i += 1
                continue
            }
            flushBytes()
            let e = s[i + 1]
            i += 2
            var scalar: UInt32
            switch e {
            case UInt8(ascii: "b"): scalar = 0x08
            case UInt8(ascii: "f"): scalar = 0x0C
            case UInt8(ascii: "n"): scalar = 0x0A
            case UInt8(ascii: "r"): scalar = 0x0D
            case UInt8(ascii: "t"): scalar = 0x09
            case UInt8(ascii: "u"):
                scalar = (0..<4).reduce(0) { $0 << 4 | UInt32(hex(s[i + $1]) ?? 0) }
                i += 4
            default: scalar = UInt32(e)
            }
            if (0xD800...0xDBFF).contains(scalar) {
                pendingHigh = scalar
                continue
            }
            if let high = pendingHigh, (0xDC00...0xDFFF).contains(scalar) {
                scalar = 0x10000 + ((high - 0xD800) << 10) + (scalar - 0xDC00)
            }
            pendingHigh = nil
            scalars.append(Unicode.Scalar(scalar) ?? "\u{FFFD}")
        }
        flushBytes()
        return String(scalars)
    }

    /// Offset just past a number starting at `start`, and whether it is a
    /// plain integer of at most 18 digits; nil when malformed.
    private static func numberEnd(_ p: UnsafeBufferPointer<UInt8>, from start: Int) -> (Int, Bool)? {
        var i = start
        func digits() -> Int {
            let from = i
            while i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") { i += 1 }
            return i - from
        }
        if p[i] == UInt8(ascii: "-") { i += 1 }
        guard i < p.count else { return nil }
        let intStart = i
        let intDigits = digits()
        guard intDigits > 0, intDigits == 1 || p[intStart] != UInt8(ascii: "0") else { return nil }
        var exact = intDigits <= 18
        if i < p.count, p[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return nil }
            exact = false
        }
        if i < p.count, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
            i += 1
            if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return nil }
            exact = false
        }
        return (i, exact)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
