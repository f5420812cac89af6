// The WordPiece model and the pre-tokenizer in front of it.
//
// Pre-tokenisation (tokenizers' `BertPreTokenizer`): split on whitespace
// (dropped) and on punctuation (each mark its own word). WordPiece
// (models/wordpiece): a word longer than `maxInputCharsPerWord` scalars is
// `[UNK]`; otherwise take the longest vocabulary entry that prefixes the
// rest of the word (`##`-prefixed after the first piece), and if at some
// point nothing matches, the whole word is `[UNK]`.

/// A WordPiece vocabulary and its settings.
final class WordPieceModel: Sendable {
    /// Every vocabulary entry, keyed by its UTF-8 bytes.
    let wholeWords: PieceTable
    /// Entries that start with the continuing-subword prefix, keyed without it.
    let continuations: PieceTable
    let unkId: Int32
    let maxInputCharsPerWord: Int
    let continuingSubwordPrefix: String

    init(vocabulary: [(piece: String, id: Int32)], unkId: Int32,
         continuingSubwordPrefix: String, maxInputCharsPerWord: Int) {
        let prefix = Array(continuingSubwordPrefix.utf8)
        var whole: [(key: ArraySlice<UInt8>, id: Int32)] = []
        var continued: [(key: ArraySlice<UInt8>, id: Int32)] = []
        whole.reserveCapacity(vocabulary.count)
        for (piece, id) in vocabulary {
            let bytes = Array(piece.utf8)
            whole.append((bytes[...], id))
            if bytes.count >= prefix.count && bytes.starts(with: prefix) {
                continued.append((bytes[prefix.count...], id))
            }
        }
        self.wholeWords = PieceTable(whole)
        self.continuations = PieceTable(continued)
        self.unkId = unkId
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
    }

    deinit {
        wholeWords.deallocate()
        continuations.deallocate()
    }

    /// Appends the pieces of one word (`word`: UTF-8 bytes, `chars` scalars).
    @inline(__always)
    func appendPieces(of word: UnsafeBufferPointer<UInt8>, chars: Int, to ids: inout [Int32]) {
        guard let base = word.baseAddress, word.count > 0 else { return }
        if chars > maxInputCharsPerWord {
            ids.append(unkId)
            return
        }
        let n = word.count
        let firstIndex = ids.count
        var start = 0
        while start < n {
            let table = start == 0 ? wholeWords : continuations
            // No key is longer than maxKeyLength bytes: start there, on a scalar boundary.
            var end = min(n, start + table.maxKeyLength)
            while end < n && end > start && base[end] & 0xC0 == 0x80 { end -= 1 }
            var id: Int32 = -1
            while end > start {
                id = table.id(base + start, end - start)
                if id >= 0 { break }
                end -= 1
                while end > start && base[end] & 0xC0 == 0x80 { end -= 1 }
            }
            if id < 0 {
                ids.removeSubrange(firstIndex...)
                ids.append(unkId)
                return
            }
            ids.append(id)
            start = end
        }
    }
}

/// Pre-tokenises normalised scalars into words and appends their WordPiece ids.
struct WordPieceSink: ScalarSink {
    // unowned(unsafe): the tokenizer that owns the model outlives every sink,
    // and skipping the reference count keeps threads off a shared cache line.
    unowned(unsafe) let model: WordPieceModel
    unowned(unsafe) let props: UnicodeProperties
    /// The ids so far.
    var ids: [Int32] = []
    /// Stop once more than this many ids exist (the rest would be truncated).
    let limit: Int
    /// (≤ a few hundred bytes) the word being collected, as UTF-8.
    private var word: [UInt8] = []
    private var wordChars = 0

    init(model: WordPieceModel, limit: Int) {
        self.model = model
        self.props = UnicodeProperties.shared
        self.limit = limit
        ids.reserveCapacity(min(limit, 512) + 1)
        word.reserveCapacity(64)
    }

    var isFull: Bool { ids.count > limit }

    @inline(__always)
    mutating func put(_ c: UInt32) {
        if c < 0x80 {
            // ASCII: whitespace is TAB..CR and space; punctuation is every other printable non-alphanumeric.
            let b = UInt8(c)
            if b == 0x20 || (b >= 0x09 && b <= 0x0D) {
                endWord()
            } else if (b >= 0x21 && b <= 0x2F) || (b >= 0x3A && b <= 0x40) || (b >= 0x5B && b <= 0x60) || (b >= 0x7B && b <= 0x7E) {
                endWord()
                word.append(b)
                wordChars = 1
                endWord()
            } else {
                word.append(b)
                wordChars += 1
            }
            return
        }
        let flags = props.flags(c)
        if flags.contains(.whitespace) {
            endWord()
        } else if flags.contains(.punctuation) {
            endWord()
            appendUTF8(c)
            wordChars = 1
            endWord()
        } else {
            appendUTF8(c)
            wordChars += 1
        }
    }

    /// Appends an id that is not WordPiece output (an added token).
    mutating func putToken(_ id: Int32) {
        endWord()
        ids.append(id)
    }

    /// Finishes the word in progress, if any.
    mutating func endWord() {
        guard !word.isEmpty else { return }
        let chars = wordChars
        word.withUnsafeBufferPointer { model.appendPieces(of: $0, chars: chars, to: &ids) }
        word.removeAll(keepingCapacity: true)
        wordChars = 0
    }

    @inline(__always)
    private mutating func appendUTF8(_ c: UInt32) {
        if c < 0x800 {
            word.append(UInt8(0xC0 | c >> 6))
            word.append(UInt8(0x80 | c & 0x3F))
        } else if c < 0x10000 {
            word.append(UInt8(0xE0 | c >> 12))
            word.append(UInt8(0x80 | (c >> 6) & 0x3F))
            word.append(UInt8(0x80 | c & 0x3F))
        } else {
            word.append(UInt8(0xF0 | c >> 18))
            word.append(UInt8(0x80 | (c >> 12) & 0x3F))
            word.append(UInt8(0x80 | (c >> 6) & 0x3F))
            word.append(UInt8(0x80 | c & 0x3F))
        }
    }
}

/// Collects normalised scalars as UTF-8 (for matching normalised added tokens).
struct UTF8Sink: ScalarSink {
    var bytes: [UInt8] = []
    var isFull: Bool { false }

    mutating func put(_ c: UInt32) {
        if c < 0x80 {
            bytes.append(UInt8(c))
        } else if c < 0x800 {
            bytes.append(UInt8(0xC0 | c >> 6)); bytes.append(UInt8(0x80 | c & 0x3F))
        } else if c < 0x10000 {
            bytes.append(UInt8(0xE0 | c >> 12)); bytes.append(UInt8(0x80 | (c >> 6) & 0x3F))
            bytes.append(UInt8(0x80 | c & 0x3F))
        } else {
            bytes.append(UInt8(0xF0 | c >> 18)); bytes.append(UInt8(0x80 | (c >> 12) & 0x3F))
            bytes.append(UInt8(0x80 | (c >> 6) & 0x3F)); bytes.append(UInt8(0x80 | c & 0x3F))
        }
    }
}
