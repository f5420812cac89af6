// MARK: - GPT-2 byte-level alphabet
//
// Byte-level BPE vocabularies store tokens as printable strings: each byte
// of UTF-8 is shown as one Unicode scalar. The 188 bytes that are already
// printable Latin-1 (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the
// other 68 (controls, space, DEL, NBSP, soft hyphen, …) are given the
// scalars U+0100, U+0101, … in byte order. So a space is `Ġ` (U+0120) and a
// newline `Ċ` (U+010A).

/// The byte ↔ scalar mapping of byte-level BPE.
public enum ByteLevelEncoding {
    /// Scalar that stands for each byte value.
    public static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Byte each alphabet scalar stands for (scalars 0…323), or nil.
    public static let byteForScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in scalarForByte.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// `text`'s UTF-8 bytes as alphabet scalars.
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarForByte[Int(b)]) }
        return String(s)
    }

    /// The bytes a vocabulary string stands for; scalars outside the
    /// alphabet are kept as their own UTF-8.
    public static func decode(_ token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            if let b = byteForScalar[s.value] {
                out.append(b)
            } else {
                out.append(contentsOf: Array(String(s).utf8))
            }
        }
        return out
    }
}
