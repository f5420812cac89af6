// The BERT tokenizer: text in, token ids out, identical to what Hugging Face
// `tokenizers` produces for the same tokenizer.json (checked against fixtures
// made by scripts/golden_tokens.py).
//
// Pipeline, per text:
//   added tokens ("[SEP]" in the text)  →  BertNormalizer  →  BertPreTokenizer
//   →  WordPiece  →  truncation  →  [CLS] … [SEP]
// The first four stages stream scalars and bytes through fixed buffers; no
// String is built per character or per word.

/// A WordPiece (BERT) tokenizer. Immutable and safe to share between threads.
public final class WordPieceTokenizer: Sendable {
    let model: WordPieceModel
    let normalizer: BertNormalizer
    let rawAddedTokens: AddedTokenMatcher
    let normalizedAddedTokens: AddedTokenMatcher
    let postProcessor: PostProcessor
    /// id → piece, for `tokenize` and `decode` ("" where an id has no piece).
    let pieces: [String]
    /// Ids of the added tokens marked `special` ([CLS], [SEP], [PAD], …),
    /// which `decode` leaves out when asked to skip special tokens.
    let specialIds: Set<Int32>

    /// The number of distinct ids (vocabulary plus added tokens).
    public let vocabularySize: Int
    /// The ids of the special tokens.
    public let clsId: Int32, sepId: Int32, padId: Int32, unkId: Int32
    /// tokenizer.json's `truncation.max_length`, if it has one. Informational:
    /// `encode` truncates to the length its caller passes (sentence-transformers
    /// uses `max_seq_length`, which can differ).
    public let configuredMaxLength: Int?

    init(model: WordPieceModel, normalizer: BertNormalizer, addedTokens: [AddedToken],
         postProcessor: PostProcessor, pieces: [String], vocabularySize: Int,
         clsId: Int32, sepId: Int32, padId: Int32, configuredMaxLength: Int?) {
        self.model = model
        self.normalizer = normalizer
        self.postProcessor = postProcessor
        self.pieces = pieces
        self.specialIds = Set(addedTokens.filter(\.special).map(\.id))
        self.vocabularySize = vocabularySize
        self.clsId = clsId
        self.sepId = sepId
        self.padId = padId
        self.unkId = model.unkId
        self.configuredMaxLength = configuredMaxLength
        rawAddedTokens = AddedTokenMatcher(addedTokens.filter { !$0.normalized }.map { (Array($0.content.utf8), $0) })
        // Normalised tokens are looked for in normalised text, so normalise them too.
        normalizedAddedTokens = AddedTokenMatcher(addedTokens.filter { $0.normalized }.map { token in
            var sink = UTF8Sink()
            var marks: [PendingMark] = []
            var content = token.content
            content.withUTF8 { normalizer.normalize($0, into: &sink, marks: &marks) }
            return (sink.bytes, token)
        })
    }

    // MARK: - Public API

    /// The word pieces of `text` (added tokens included, as their content),
    /// without special tokens and without truncation.
    public func tokenize(_ text: String) -> [String] {
        wordPieceIds(text, limit: Int.max).ids.map { Int($0) < pieces.count ? pieces[Int($0)] : "" }
    }

    /// `[CLS] text [SEP]`, truncated to at most `maxLength` ids (never fewer
    /// than the special tokens themselves). `truncated` says whether pieces were dropped.
    public func encode(_ text: String, maxLength: Int) -> Encoding {
        let budget = max(0, maxLength - postProcessor.addedCount(pair: false))
        let sink = wordPieceIds(text, limit: budget)
        let truncated = sink.ids.count > budget
        return postProcessor.apply(sink.ids.prefix(budget), nil, truncated: truncated)
    }

    /// `[CLS] a [SEP] b [SEP]` with type ids 0 for the first part and 1 for
    /// the second, truncated like tokenizers' `longest_first` strategy (the
    /// longer text loses pieces first; if both are long each keeps half).
    public func encodePair(_ a: String, _ b: String, maxLength: Int) -> Encoding {
        let budget = max(0, maxLength - postProcessor.addedCount(pair: true))
        let first = wordPieceIds(a, limit: Int.max).ids
        let second = wordPieceIds(b, limit: Int.max).ids
        let (keepA, keepB) = longestFirstLengths(first.count, second.count, budget: budget)
        let truncated = keepA < first.count || keepB < second.count
        return postProcessor.apply(first.prefix(keepA), second.prefix(keepB), truncated: truncated)
    }

    // MARK: - Pipeline

    /// The WordPiece ids of `text`, stopping once more than `limit` exist.
    func wordPieceIds(_ text: String, limit: Int) -> WordPieceSink {
        var sink = WordPieceSink(model: model, limit: limit)
        var marks: [PendingMark] = []
        var text = text
        text.withUTF8 { utf8 in
            guard !rawAddedTokens.isEmpty else {
                appendSegment(UnsafeBufferPointer(rebasing: utf8[...]), to: &sink, marks: &marks)
                return
            }
            rawAddedTokens.forEachSplit(utf8) { split in
                if sink.isFull { return }
                switch split {
                case .token(let id): sink.putToken(id)
                case .text(let range): appendSegment(UnsafeBufferPointer(rebasing: utf8[range]), to: &sink, marks: &marks)
                }
            }
        }
        return sink
    }

    /// Normalises, pre-tokenises and WordPiece-encodes text that holds no raw added token.
    private func appendSegment(_ segment: UnsafeBufferPointer<UInt8>, to sink: inout WordPieceSink,
                               marks: inout [PendingMark]) {
        guard !normalizedAddedTokens.isEmpty else {
            normalizer.normalize(segment, into: &sink, marks: &marks)
            sink.endWord()
            return
        }
        var normalized = UTF8Sink()
        normalizer.normalize(segment, into: &normalized, marks: &marks)
        normalized.bytes.withUnsafeBufferPointer { bytes in
            for split in normalizedAddedTokens.split(bytes) {
                switch split {
                case .token(let id):
                    sink.putToken(id)
                case .text(let range):
                    // Already normalised: feed the scalars straight to the pre-tokenizer.
                    for scalar in String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self).unicodeScalars {
                        sink.put(scalar.value)
                    }
                    sink.endWord()
                }
            }
        }
    }
}
