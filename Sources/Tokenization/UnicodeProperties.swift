// Character classes for BERT normalisation and pre-tokenisation, read once
// from the generated text tables in UnicodeTables.swift.
//
// Layout: a two-stage lookup. `blockOf[c >> 8]` names a 256-entry block of
// flag bytes; identical blocks (most of the code space) are stored once, so
// the whole table is ~50 KiB and one lookup is two loads. Decompositions,
// lowercase mappings and combining classes are rare enough for dictionaries.

/// What BERT normalisation and pre-tokenisation need to know about one scalar.
struct ScalarFlags: OptionSet, Sendable {
    let rawValue: UInt8
    /// Dropped by `clean_text` (NUL, U+FFFD, control/format/private-use).
    static let removedByCleanText = ScalarFlags(rawValue: 1 << 0)
    /// A word separator for the pre-tokenizer (Rust `char::is_whitespace`).
    static let whitespace = ScalarFlags(rawValue: 1 << 1)
    /// Isolated as a word of its own by the pre-tokenizer.
    static let punctuation = ScalarFlags(rawValue: 1 << 2)
    /// Dropped by `strip_accents` after NFD (general category Mn).
    static let nonspacingMark = ScalarFlags(rawValue: 1 << 3)
    /// Surrounded by spaces by `handle_chinese_chars`.
    static let chinese = ScalarFlags(rawValue: 1 << 4)
    /// Has a canonical decomposition (NFD differs from the scalar itself).
    static let decomposes = ScalarFlags(rawValue: 1 << 5)
    /// Lowercases to something other than itself.
    static let hasLowercase = ScalarFlags(rawValue: 1 << 6)
    /// Has a non-zero canonical combining class (takes part in NFD reordering).
    static let combining = ScalarFlags(rawValue: 1 << 7)
}

/// The Unicode data the BERT tokenizer uses, as `tokenizers` sees it.
final class UnicodeProperties: Sendable {
    /// The one shared instance; built on first use (a few milliseconds).
    static let shared = UnicodeProperties()

    /// (0x110000 >> 8) block numbers into `blocks`.
    private let blockOf: [UInt16]
    /// (blockCount × 256) flag bytes.
    private let blocks: [UInt8]
    /// Scalar → its full canonical decomposition (Hangul syllables excepted).
    private let decompositions: [UInt32: [UInt32]]
    /// Scalar → its lowercase mapping (one to three scalars).
    private let lowercaseMappings: [UInt32: [UInt32]]
    /// Scalar → its non-zero canonical combining class.
    private let combiningClasses: [UInt32: UInt8]

    private init() {
        var flags = [UInt8](repeating: 0, count: 0x110000)
        func mark(_ table: String, _ flag: ScalarFlags) {
            Self.forEachRange(table) { range in
                for c in range { flags[Int(c)] |= flag.rawValue }
            }
        }
        mark(UnicodeTables.removedByCleanText, .removedByCleanText)
        mark(UnicodeTables.whitespace, .whitespace)
        mark(UnicodeTables.punctuation, .punctuation)
        mark(UnicodeTables.nonspacingMarks, .nonspacingMark)
        mark(UnicodeTables.chinese, .chinese)

        let decompositions = Self.parseMap(UnicodeTables.decompositions)
        for c in decompositions.keys { flags[Int(c)] |= ScalarFlags.decomposes.rawValue }
        for c in Hangul.syllables { flags[Int(c)] |= ScalarFlags.decomposes.rawValue }
        let lowercase = Self.parseMap(UnicodeTables.lowercase)
        for c in lowercase.keys { flags[Int(c)] |= ScalarFlags.hasLowercase.rawValue }
        var classes: [UInt32: UInt8] = [:]
        for item in Self.items(UnicodeTables.combiningClasses) {
            guard let colon = item.firstIndex(of: UInt8(ascii: ":")),
                  let value = Self.decimal(item[..<colon]) else { preconditionFailure("bad combining class item") }
            for part in item[(colon + 1)...].split(separator: UInt8(ascii: ";")) {
                for c in Self.range(part) {
                    classes[c] = UInt8(value)
                    flags[Int(c)] |= ScalarFlags.combining.rawValue
                }
            }
        }

        // Fold identical 256-entry blocks together.
        var blockOf = [UInt16](repeating: 0, count: 0x110000 >> 8)
        var blocks: [UInt8] = []
        var seen: [ArraySlice<UInt8>: UInt16] = [:]
        for b in 0..<(0x110000 >> 8) {
            let block = flags[(b << 8)..<((b + 1) << 8)]
            if let n = seen[block] {
                blockOf[b] = n
            } else {
                let n = UInt16(blocks.count >> 8)
                seen[block] = n
                blocks.append(contentsOf: block)
                blockOf[b] = n
            }
        }
        self.blockOf = blockOf
        self.blocks = blocks
        self.decompositions = decompositions
        self.lowercaseMappings = lowercase
        self.combiningClasses = classes
    }

    // MARK: - Lookups

    /// The flags of scalar `c` (any value below 0x110000).
    @inline(__always)
    func flags(_ c: UInt32) -> ScalarFlags {
        ScalarFlags(rawValue: blocks[Int(blockOf[Int(c >> 8)]) << 8 | Int(c & 0xFF)])
    }

    /// Calls `body` with each scalar of the full canonical decomposition of `c`
    /// (only call when `flags(c)` contains `.decomposes`).
    @inline(__always)
    func forEachDecomposed(_ c: UInt32, _ body: (UInt32) -> Void) {
        if Hangul.syllables.contains(c) {
            Hangul.decompose(c, body)
        } else if let d = decompositions[c] {
            for x in d { body(x) }
        } else {
            body(c)
        }
    }

    /// The lowercase mapping of `c` (only call when `flags(c)` contains `.hasLowercase`).
    @inline(__always)
    func lowercase(_ c: UInt32) -> [UInt32] {
        lowercaseMappings[c] ?? [c]
    }

    /// The canonical combining class of `c` (0 for most scalars).
    @inline(__always)
    func combiningClass(_ c: UInt32) -> UInt8 {
        combiningClasses[c] ?? 0
    }

    // MARK: - Table parsing

    /// The comma- or newline-separated items of a table, as UTF-8 slices.
    private static func items(_ table: String) -> [ArraySlice<UInt8>] {
        Array(table.utf8).split(whereSeparator: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\n") })
    }

    private static func forEachRange(_ table: String, _ body: (ClosedRange<UInt32>) -> Void) {
        for item in items(table) { body(range(item)) }
    }

    /// `a` or `a-b` (hex) as a closed range.
    private static func range(_ item: ArraySlice<UInt8>) -> ClosedRange<UInt32> {
        if let dash = item.firstIndex(of: UInt8(ascii: "-")) {
            return hex(item[..<dash])...hex(item[(dash + 1)...])
        }
        let c = hex(item)
        return c...c
    }

    /// `from:to.to.to` items (hex) as a dictionary.
    private static func parseMap(_ table: String) -> [UInt32: [UInt32]] {
        var map: [UInt32: [UInt32]] = [:]
        for item in items(table) {
            guard let colon = item.firstIndex(of: UInt8(ascii: ":")) else { preconditionFailure("bad map item") }
            map[hex(item[..<colon])] = item[(colon + 1)...].split(separator: UInt8(ascii: ".")).map(hex)
        }
        return map
    }

    private static func hex(_ digits: ArraySlice<UInt8>) -> UInt32 {
        var value: UInt32 = 0
        for d in digits {
            switch d {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt32(d - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt32(d - UInt8(ascii: "a") + 10)
            default: preconditionFailure("bad hex digit in UnicodeTables")
            }
        }
        return value
    }

    private static func decimal(_ digits: ArraySlice<UInt8>) -> Int? {
        Int(String(decoding: digits, as: UTF8.self))
    }
}

/// Hangul syllables decompose algorithmically (Unicode §3.12).
enum Hangul {
    static let syllables: ClosedRange<UInt32> = 0xAC00...0xD7A3
    private static let leadBase: UInt32 = 0x1100, vowelBase: UInt32 = 0x1161, trailBase: UInt32 = 0x11A7
    private static let vowelCount: UInt32 = 21, trailCount: UInt32 = 28

    /// Calls `body` with the two or three jamo of syllable `c`.
    @inline(__always)
    static func decompose(_ c: UInt32, _ body: (UInt32) -> Void) {
        let s = c - syllables.lowerBound
        let perLead = vowelCount * trailCount
        body(leadBase + s / perLead)
        body(vowelBase + (s % perLead) / trailCount)
        let t = s % trailCount
        if t != 0 { body(trailBase + t) }
    }
}
