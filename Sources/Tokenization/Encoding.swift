// The result of encoding one text or one pair of texts.

/// Token ids ready for a BERT encoder: special tokens included, truncated
/// to the length asked for.
public struct Encoding: Sendable, Equatable {
    /// Token ids, `[CLS] … [SEP]` (single) or `[CLS] a [SEP] b [SEP]` (pair).
    public var ids: [Int32]
    /// Segment ids, one per token: 0 for the first text (and its specials), 1 for the second.
    public var typeIds: [Int32]
    /// Whether tokens were dropped to fit the maximum length.
    public var truncated: Bool

    public init(ids: [Int32], typeIds: [Int32], truncated: Bool) {
        self.ids = ids
        self.typeIds = typeIds
        self.truncated = truncated
    }
}
