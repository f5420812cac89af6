// MARK: - Pre-tokenisation for byte-level BPE
//
// Before merges, text is cut into pieces and BPE runs inside each piece.
// The cuts follow the regular expression each model family was trained
// with; these are hand-written scanners over Unicode scalars that behave
// like those expressions (as llama.cpp applies them), no regex engine.
//
//  gpt2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//  smollm every \p{N} scalar is first cut out on its own, then gpt2 inside
//         each remaining piece (StarCoder-style vocabularies)
//  llama3 (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//         ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//  qwen2  llama3 with \p{N} instead of \p{N}{1,3}: every digit is a piece
//
// \p{L} is general category L*, \p{N} is N*, \s is the White_Space property.

/// A byte-level BPE pre-tokeniser, named as `tokenizer.ggml.pre` names it.
public enum ByteLevelPreTokenizer: String, Sendable, CaseIterable {
    case gpt2
    case smollm
    case llama3
    case qwen2

    /// The scanner for a GGUF `tokenizer.ggml.pre` value, or nil if unknown.
    public init?(ggufName: String) {
        switch ggufName {
        case "gpt-2", "gpt2", "mpt", "olmo", "jais": self = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva": self = .smollm
        case "llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe", "falcon3", "pixtral": self = .llama3
        case "qwen2", "deepseek-r1-qwen": self = .qwen2
        default: return nil
        }
    }

    /// Cuts `s` into pieces; the ranges cover `s` in order without gaps.
    public func split(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        switch self {
        case .gpt2:
            Self.splitGPT2(s, 0..<s.count, &out)
        case .smollm:
            var start = 0
            for i in 0..<s.count where ByteLevelScalarClass(s[i]) == .number {
                if start < i { Self.splitGPT2(s, start..<i, &out) }
                out.append(i..<(i + 1))
                start = i + 1
            }
            if start < s.count { Self.splitGPT2(s, start..<s.count, &out) }
        case .llama3:
            Self.splitLlama3(s, 0..<s.count, maxDigits: 3, &out)
        case .qwen2:
            Self.splitLlama3(s, 0..<s.count, maxDigits: 1, &out)
        }
        return out
    }

    // MARK: - GPT-2

    private static func splitGPT2(_ s: [Unicode.Scalar], _ piece: Range<Int>, _ out: inout [Range<Int>]) {
        let hi = piece.upperBound
        func cls(_ i: Int) -> ByteLevelScalarClass? { i < hi ? ByteLevelScalarClass(s[i]) : nil }
        var pos = piece.lowerBound
        while pos < hi {
            let c = s[pos]
            if c == "'", pos + 1 < hi {
                let n = s[pos + 1]
                if n == "s" || n == "t" || n == "m" || n == "d" {
                    out.append(pos..<(pos + 2)); pos += 2; continue
                }
                if pos + 2 < hi {
                    let nn = s[pos + 2]
                    if (n == "r" && nn == "e") || (n == "v" && nn == "e") || (n == "l" && nn == "l") {
                        out.append(pos..<(pos + 3)); pos += 3; continue
                    }
                }
            }
            let start = pos
            let lead = c == " " ? cls(pos + 1) : cls(pos)
            if let k = lead, k != .whitespace {
                if c == " " { pos += 1 }
                while cls(pos) == k { pos += 1 }
                out.append(start..<pos)
                continue
            }
            var n = 0
            while cls(pos + n) == .whitespace { n += 1 }
            if n > 1 && pos + n < hi {
                pos += n - 1  // \s+(?!\S): leave the last space for the next word
            } else if n > 0 {
                pos += n
            } else {
                pos += 1
            }
            out.append(start..<pos)
        }
    }

    // MARK: - Llama 3

    /// The Llama 3 scanner; `maxDigits` is the longest run of digits kept in
    /// one piece (3 for Llama 3, 1 for Qwen2).
    private static func splitLlama3(
        _ s: [Unicode.Scalar], _ piece: Range<Int>, maxDigits: Int, _ out: inout [Range<Int>]
    ) {
        let hi = piece.upperBound
        func cls(_ i: Int) -> ByteLevelScalarClass? { i < hi ? ByteLevelScalarClass(s[i]) : nil }
        func isNewline(_ i: Int) -> Bool { i < hi && (s[i] == "\r" || s[i] == "\n") }
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar {
            (65...90).contains(c.value) ? Unicode.Scalar(c.value + 32)! : c
        }
        var pos = piece.lowerBound
        while pos < hi {
            let start = pos
            let c = s[pos]
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if c == "'", pos + 1 < hi {
                let n = lower(s[pos + 1])
                if n == "s" || n == "t" || n == "m" || n == "d" {
                    out.append(pos..<(pos + 2)); pos += 2; continue
                }
                if pos + 2 < hi {
                    let nn = lower(s[pos + 2])
                    if (n == "r" && nn == "e") || (n == "v" && nn == "e") || (n == "l" && nn == "l") {
                        out.append(pos..<(pos + 3)); pos += 3; continue
                    }
                }
            }
            let k = cls(pos)!
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if k == .letter || (!isNewline(pos) && k != .number && cls(pos + 1) == .letter) {
                pos += 1
                while cls(pos) == .letter { pos += 1 }
                out.append(start..<pos); continue
            }
            // \p{N}{1,maxDigits}
            if k == .number {
                while pos < hi && pos - start < maxDigits && cls(pos) == .number { pos += 1 }
                out.append(start..<pos); continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            var p = pos
            if c == " " && cls(p + 1) == .other { p += 1 }
            if cls(p) == .other {
                while cls(p) == .other { p += 1 }
                while isNewline(p) { p += 1 }
                pos = p
                out.append(start..<pos); continue
            }
            // Whitespace run [pos, pos + n).
            var n = 0
            while cls(pos + n) == .whitespace { n += 1 }
            // \s*[\r\n]+ : up to the last newline of the run.
            var lastNewline = -1
            for i in pos..<(pos + n) where isNewline(i) { lastNewline = i }
            if lastNewline >= 0 {
                pos = lastNewline + 1
            } else if n > 1 && pos + n < hi {
                pos += n - 1  // \s+(?!\S)
            } else {
                pos += max(1, n)  // \s+ (or a lone scalar nothing matched)
            }
            out.append(start..<pos)
        }
    }
}

// MARK: - Scalar classes

/// The classes the pre-tokenisers distinguish.
enum ByteLevelScalarClass: Equatable {
    case letter, number, whitespace, other

    init(_ c: Unicode.Scalar) {
        let v = c.value
        if v < 128 {
            if (65...90).contains(v) || (97...122).contains(v) { self = .letter }
            else if (48...57).contains(v) { self = .number }
            else if v == 32 || (9...13).contains(v) { self = .whitespace }
            else { self = .other }
            return
        }
        let p = c.properties
        if p.isWhitespace { self = .whitespace; return }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            self = .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            self = .number
        default:
            self = .other
        }
    }
}
