// Added tokens ("[CLS]", "[SEP]", "[MASK]", ...): tokenizers finds them in
// the text *before* normalisation (for tokens with `normalized: false`,
// which is what BERT's special tokens are) and gives them their id
// directly; the text between them is normalised and tokenised as usual.
// So "a [SEP] b" encodes to [CLS] a [SEP] b [SEP], and "[sep]" does not
// match. Tokens with `normalized: true` are found in the normalised text
// instead. Matching is leftmost-longest and non-overlapping, like the
// Aho-Corasick automaton in added_vocabulary.rs; `single_word`, `lstrip`
// and `rstrip` are applied to each match afterwards, as there.

/// One entry of tokenizer.json's `added_tokens`.
struct AddedToken: Sendable, Equatable {
    var content: String
    var id: Int32
    var singleWord = false
    var lstrip = false
    var rstrip = false
    var normalized = false
    var special = true
}

/// A piece of text: either an added token's id, or a range to tokenise normally.
enum AddedTokenSplit: Equatable {
    case text(Range<Int>)
    case token(Int32)
}

/// Finds one kind of added tokens (raw or normalised) in UTF-8 text.
struct AddedTokenMatcher: Sendable {
    /// (pattern bytes, id, token) for each token, longest first.
    private let patterns: [(bytes: [UInt8], token: AddedToken)]
    /// Bytes some pattern starts with: a quick filter for the scan.
    private let startsPattern: [Bool]

    /// `patterns` pairs each token with the bytes to look for (its content,
    /// or its normalised content).
    init(_ patterns: [(bytes: [UInt8], token: AddedToken)]) {
        let kept = patterns.filter { !$0.bytes.isEmpty }
        self.patterns = kept.sorted { $0.bytes.count > $1.bytes.count }
        var starts = [Bool](repeating: false, count: 256)
        for p in kept { starts[Int(p.bytes[0])] = true }
        self.startsPattern = starts
    }

    var isEmpty: Bool { patterns.isEmpty }

    /// Splits `text` into added tokens and the text around them.
    func split(_ text: UnsafeBufferPointer<UInt8>) -> [AddedTokenSplit] {
        var splits: [AddedTokenSplit] = []
        forEachSplit(text) { splits.append($0) }
        return splits
    }

    /// Calls `body` with each added token of `text` and the text around them, in order.
    func forEachSplit(_ text: UnsafeBufferPointer<UInt8>, _ body: (AddedTokenSplit) -> Void) {
        var startOffset = 0
        var i = 0
        let n = text.count
        while i < n {
            guard startsPattern[Int(text[i])], let (length, token) = longestMatch(text, at: i) else {
                i += 1
                continue
            }
            var start = i, stop = i + length
            i = stop
            if token.singleWord {
                let spaceBefore = start == 0 || !endsWithWordCharacter(text, before: start)
                let spaceAfter = stop == n || !startsWithWordCharacter(text, at: stop)
                if !spaceBefore || !spaceAfter { continue }
            }
            if token.lstrip {
                var s = start
                while let (c, width) = scalar(text, before: s), UnicodeProperties.shared.flags(c).contains(.whitespace) {
                    s -= width
                }
                start = max(s, startOffset)
            }
            if token.rstrip {
                while let (c, width) = scalar(text, at: stop), UnicodeProperties.shared.flags(c).contains(.whitespace) {
                    stop += width
                }
            }
            if startOffset < start { body(.text(startOffset..<start)) }
            body(.token(token.id))
            startOffset = stop
        }
        if startOffset < n { body(.text(startOffset..<n)) }
    }

    private func longestMatch(_ text: UnsafeBufferPointer<UInt8>, at i: Int) -> (Int, AddedToken)? {
        let rest = text.count - i
        for p in patterns where p.bytes.count <= rest {
            var k = 0
            while k < p.bytes.count && p.bytes[k] == text[i + k] { k += 1 }
            if k == p.bytes.count { return (k, p.token) }
        }
        return nil
    }

    // MARK: - Neighbouring scalars (for single_word, lstrip, rstrip)

    private func scalar(_ text: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int)? {
        guard i < text.count else { return nil }
        var width = 1
        while i + width < text.count && text[i + width] & 0xC0 == 0x80 { width += 1 }
        return (decode(text, i, width), width)
    }

    private func scalar(_ text: UnsafeBufferPointer<UInt8>, before i: Int) -> (UInt32, Int)? {
        guard i > 0 else { return nil }
        var start = i - 1
        while start > 0 && text[start] & 0xC0 == 0x80 { start -= 1 }
        return (decode(text, start, i - start), i - start)
    }

    private func decode(_ text: UnsafeBufferPointer<UInt8>, _ i: Int, _ width: Int) -> UInt32 {
        if width == 1 { return UInt32(text[i]) }
        var c = UInt32(text[i]) & (0x7F >> width)
        for k in 1..<width { c = c << 6 | UInt32(text[i + k] & 0x3F) }
        return c
    }

    /// The regex crate's `\w`: alphabetic, marks, decimal digits, connector punctuation, join controls.
    private func isWordCharacter(_ c: UInt32) -> Bool {
        guard let s = Unicode.Scalar(c) else { return false }
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    private func endsWithWordCharacter(_ text: UnsafeBufferPointer<UInt8>, before i: Int) -> Bool {
        scalar(text, before: i).map { isWordCharacter($0.0) } ?? false
    }

    private func startsWithWordCharacter(_ text: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        scalar(text, at: i).map { isWordCharacter($0.0) } ?? false
    }
}
