// Ids back to text, as Hugging Face `tokenizers` decodes with a WordPiece
// decoder (`{"type": "WordPiece", "prefix": "##", "cleanup": true}`, what
// BERT tokenizer.json files carry):
//   1. each id becomes its piece; special added tokens are dropped when
//      `skipSpecialTokens` is set;
//   2. a piece after the first gets a space before it, unless it starts
//      with the continuing-subword prefix, which is removed instead;
//   3. cleanup, per piece: " ." → ".", " ?" → "?", " !" → "!", " ," → ",",
//      " ' " → "'", " n't" → "n't", " 'm" → "'m", " 's" → "'s",
//      " 've" → "'ve", " 're" → "'re" (the spaces English punctuation and
//      contractions lost when they became pieces of their own).
// Normalisation (lowercasing, accent stripping) cannot be undone: decoding
// gives the normalised text.

extension WordPieceTokenizer {
    /// A refused id: not in the vocabulary.
    public struct UnknownTokenId: Error, Sendable, Equatable {
        /// Where in the list the id stood.
        public var index: Int
        /// The id.
        public var id: Int64

        public init(index: Int, id: Int64) {
            self.index = index
            self.id = id
        }
    }

    /// Whether `id` names a piece of this tokenizer.
    public func hasPiece(_ id: Int64) -> Bool {
        id >= 0 && id < Int64(pieces.count) && !pieces[Int(id)].isEmpty
    }

    /// The text of `ids`. Throws `UnknownTokenId` for the first id that
    /// names no piece (negative, too large, or a gap in the vocabulary).
    public func decode(_ ids: [Int64], skipSpecialTokens: Bool = true) throws -> String {
        let prefix = model.continuingSubwordPrefix
        var out = ""
        var first = true
        for (index, id) in ids.enumerated() {
            guard hasPiece(id) else { throw UnknownTokenId(index: index, id: id) }
            if skipSpecialTokens && specialIds.contains(Int32(id)) { continue }
            var piece = pieces[Int(id)]
            if !first {
                if !prefix.isEmpty && piece.hasPrefix(prefix) {
                    piece.removeFirst(prefix.count)
                } else {
                    piece = " " + piece
                }
            }
            first = false
            out += Self.cleanup(piece)
        }
        return out
    }

    /// The cleanup step (3. above) for one piece.
    static func cleanup(_ piece: String) -> String {
        guard piece.hasPrefix(" ") else { return piece }
        var s = piece
        for (from, to) in cleanupReplacements { s = s.replacingAll(from, with: to) }
        return s
    }

    /// In the order `tokenizers` applies them.
    static let cleanupReplacements: [(String, String)] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
        (" n't", "n't"), (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ]
}

private extension String {
    /// Every occurrence of `target` replaced by `replacement`, left to right
    /// without overlaps (Foundation-free, so the module needs no Foundation).
    func replacingAll(_ target: String, with replacement: String) -> String {
        let source = Array(utf8), t = Array(target.utf8)
        guard !t.isEmpty, source.count >= t.count else { return self }
        var out: [UInt8] = []
        out.reserveCapacity(source.count)
        var i = 0
        while i < source.count {
            if i + t.count <= source.count && source[i..<(i + t.count)].elementsEqual(t) {
                out.append(contentsOf: replacement.utf8)
                i += t.count
            } else {
                out.append(source[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
