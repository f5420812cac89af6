// MARK: - Byte-level BPE tokenizer
//
// The GPT-2 family's tokenizer as GGUF files describe it
// (`tokenizer.ggml.model = gpt2`): a vocabulary of byte-level strings, a
// ranked merge list, token types, and a pre-tokeniser. Encoding:
//   1. cut out special tokens (control tokens only when asked to parse
//      them; user-defined tokens always), as llama.cpp does;
//   2. pre-tokenise each remaining fragment (ByteLevelPreTokenizer);
//   3. map each piece's UTF-8 bytes to the byte-level alphabet, one symbol
//      per byte, and repeatedly merge the adjacent pair of lowest rank
//      (leftmost first on ties) while a merge applies;
//   4. each final symbol is a vocabulary id.

/// Why a BPE tokenizer could not be built.
public enum BPEError: Error, Equatable, CustomStringConvertible {
    case emptyVocabulary
    case mismatchedTokenTypes(tokens: Int, types: Int)
    case missingByteToken(UInt8)

    public var description: String {
        switch self {
        case .emptyVocabulary: return "BPE vocabulary is empty"
        case let .mismatchedTokenTypes(t, ty): return "BPE vocabulary has \(t) tokens but \(ty) token types"
        case let .missingByteToken(b): return "BPE vocabulary has no token for byte \(b)"
        }
    }
}

/// A byte-level BPE tokenizer (GPT-2, Llama 3, SmolLM, Qwen vocabularies).
public final class BPETokenizer: @unchecked Sendable {
    /// Token kinds as GGUF's `tokenizer.ggml.token_type` numbers them.
    public enum TokenType: Int32, Sendable {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// Vocabulary strings in the byte-level alphabet, by id.
    public let tokens: [String]
    /// Kind of each token.
    public let types: [TokenType]
    /// The pre-tokeniser.
    public let preTokenizer: ByteLevelPreTokenizer
    /// Vocabulary size.
    public var count: Int { tokens.count }

    private let ids: [String: Int32]
    /// (left id, right id) packed → (rank, merged id).
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    private let byteIds: [Int32]
    /// Special tokens by first scalar, longest first: (scalars, id, isControl).
    private let specials: [UInt32: [([Unicode.Scalar], Int32, Bool)]]

    /// Builds a tokenizer from a vocabulary, merges written as
    /// `"left right"`, and token types (GGUF numbering; empty = all normal).
    public init(tokens: [String], merges mergeLines: [String], types rawTypes: [Int32], preTokenizer: ByteLevelPreTokenizer) throws {
        guard !tokens.isEmpty else { throw BPEError.emptyVocabulary }
        guard rawTypes.isEmpty || rawTypes.count == tokens.count else {
            throw BPEError.mismatchedTokenTypes(tokens: tokens.count, types: rawTypes.count)
        }
        self.tokens = tokens
        self.types = rawTypes.isEmpty
            ? [TokenType](repeating: .normal, count: tokens.count)
            : rawTypes.map { TokenType(rawValue: $0) ?? .normal }
        self.preTokenizer = preTokenizer
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        self.ids = ids
        var m: [UInt64: (rank: Int32, id: Int32)] = [:]
        m.reserveCapacity(mergeLines.count)
        for (rank, line) in mergeLines.enumerated() {
            // The separator is the first space after the first scalar.
            let scalars = Array(line.unicodeScalars)
            guard scalars.count >= 3, let sep = scalars.indices.dropFirst().first(where: { scalars[$0] == " " }) else { continue }
            var l = String.UnicodeScalarView(), r = String.UnicodeScalarView()
            l.append(contentsOf: scalars[..<sep]); r.append(contentsOf: scalars[(sep + 1)...])
            let left = String(l), right = String(r)
            guard let a = ids[left], let b = ids[right], let c = ids[left + right] else { continue }
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            if m[key] == nil { m[key] = (Int32(rank), c) }
        }
        merges = m
        var byteIds = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            if let id = ids[String(ByteLevelEncoding.scalarForByte[b])] { byteIds[b] = id }
        }
        self.byteIds = byteIds
        var sp: [UInt32: [([Unicode.Scalar], Int32, Bool)]] = [:]
        for (i, t) in tokens.enumerated() {
            let ty = types[i]
            guard ty == .control || ty == .userDefined, let first = t.unicodeScalars.first else { continue }
            sp[first.value, default: []].append((Array(t.unicodeScalars), Int32(i), ty == .control))
        }
        for k in sp.keys { sp[k]!.sort { $0.0.count > $1.0.count } }
        specials = sp
    }

    /// The id of vocabulary string `token`, if present.
    public func id(of token: String) -> Int32? { ids[token] }

    // MARK: Encoding

    /// Token ids of `text`. With `parseSpecial`, control tokens written in
    /// the text (`<|im_start|>`) become their ids; user-defined tokens
    /// always do. No BOS/EOS is added.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var out: [Int32] = []
        var fragmentStart = 0
        var i = 0
        while i < scalars.count {
            if let cands = specials[scalars[i].value],
               let hit = cands.first(where: { (parseSpecial || !$0.2) && matches($0.0, scalars, at: i) }) {
                if fragmentStart < i { encodeFragment(scalars[fragmentStart..<i], &out) }
                out.append(hit.1)
                i += hit.0.count
                fragmentStart = i
            } else {
                i += 1
            }
        }
        if fragmentStart < scalars.count { encodeFragment(scalars[fragmentStart..<scalars.count], &out) }
        return out
    }

    private func matches(_ pattern: [Unicode.Scalar], _ s: [Unicode.Scalar], at i: Int) -> Bool {
        guard i + pattern.count <= s.count else { return false }
        for k in 0..<pattern.count where s[i + k] != pattern[k] { return false }
        return true
    }

    private func encodeFragment(_ fragment: ArraySlice<Unicode.Scalar>, _ out: inout [Int32]) {
        let s = Array(fragment)
        for piece in preTokenizer.split(s) {
            var bytes: [UInt8] = []
            for c in s[piece] { bytes.append(contentsOf: String(c).utf8) }
            bpe(bytes, &out)
        }
    }

    /// Merges one pre-token's bytes; appends the resulting ids.
    private func bpe(_ bytes: [UInt8], _ out: inout [Int32]) {
        var symbols = bytes.map { byteIds[Int($0)] }
        if symbols.contains(-1) {
            // A vocabulary without some byte tokens: fall back to the whole piece if known.
            if let whole = ids[ByteLevelEncoding.encode(bytes)] { out.append(whole) }
            out.append(contentsOf: symbols.filter { $0 >= 0 })
            return
        }
        while symbols.count > 1 {
            var bestRank = Int32.max, bestAt = -1, bestId: Int32 = 0
            for k in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[k])) << 32 | UInt64(UInt32(symbols[k + 1]))
                if let m = merges[key], m.rank < bestRank { bestRank = m.rank; bestAt = k; bestId = m.id }
            }
            if bestAt < 0 { break }
            // Apply this merge to every non-overlapping occurrence, left to right
            // (the same rank cannot be beaten by anything created meanwhile).
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var k = 0
            let (a, b) = (symbols[bestAt], symbols[bestAt + 1])
            while k < symbols.count {
                if k + 1 < symbols.count && symbols[k] == a && symbols[k + 1] == b {
                    merged.append(bestId); k += 2
                } else {
                    merged.append(symbols[k]); k += 1
                }
            }
            symbols = merged
        }
        out.append(contentsOf: symbols)
    }

    // MARK: Decoding

    /// The bytes token `id` stands for. Control tokens give their text when
    /// `special` is true and nothing otherwise.
    public func bytes(of id: Int32, special: Bool = false) -> [UInt8] {
        guard id >= 0, Int(id) < tokens.count else { return [] }
        switch types[Int(id)] {
        case .control, .unknown, .unused:
            return special ? Array(tokens[Int(id)].utf8) : []
        case .userDefined:
            return Array(tokens[Int(id)].utf8)
        default:
            return ByteLevelEncoding.decode(tokens[Int(id)])
        }
    }

    /// Text of `ids` (invalid UTF-8 replaced by U+FFFD).
    public func decode(_ ids: [Int32], special: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes.append(contentsOf: self.bytes(of: id, special: special)) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
