// Special tokens around the word pieces, and truncation to a maximum length,
// as tokenizers' `TemplateProcessing` / `BertProcessing` and
// `truncate_encodings` (utils/truncation.rs) do them:
//
//   single: [CLS] $A [SEP]            type ids 0 … 0
//   pair:   [CLS] $A [SEP] $B [SEP]   type ids 0 … 0 1 … 1
//
// The sequences are truncated first, to `maxLength` minus the number of
// special tokens the template adds, keeping the start of each sequence.

/// A template of special tokens and sequences.
struct PostProcessor: Sendable, Equatable {
    enum Piece: Sendable, Equatable {
        /// A special token (one or more ids).
        case special(ids: [Int32], typeId: Int32)
        /// The first ($A) or second ($B) sequence.
        case sequence(second: Bool, typeId: Int32)
    }

    var single: [Piece]
    var pair: [Piece]

    /// BERT's template.
    static func bert(cls: Int32, sep: Int32) -> PostProcessor {
        PostProcessor(
            single: [.special(ids: [cls], typeId: 0), .sequence(second: false, typeId: 0), .special(ids: [sep], typeId: 0)],
            pair: [.special(ids: [cls], typeId: 0), .sequence(second: false, typeId: 0), .special(ids: [sep], typeId: 0),
                   .sequence(second: true, typeId: 1), .special(ids: [sep], typeId: 1)])
    }

    /// No special tokens (`"post_processor": null`).
    static let none = PostProcessor(
        single: [.sequence(second: false, typeId: 0)],
        pair: [.sequence(second: false, typeId: 0), .sequence(second: true, typeId: 1)])

    /// How many ids the template adds around the sequence(s).
    func addedCount(pair isPair: Bool) -> Int {
        (isPair ? pair : single).reduce(0) {
            if case .special(let ids, _) = $1 { return $0 + ids.count }
            return $0
        }
    }

    /// The first and last special ids of the single template (BERT: [CLS], [SEP]).
    var firstSpecial: Int32? {
        for case .special(let ids, _) in single { return ids.first }
        return nil
    }
    var lastSpecial: Int32? {
        for case .special(let ids, _) in single.reversed() { return ids.last }
        return nil
    }

    /// Builds the encoding from (already truncated) sequences.
    func apply(_ a: ArraySlice<Int32>, _ b: ArraySlice<Int32>?, truncated: Bool) -> Encoding {
        let template = b == nil ? single : pair
        var ids: [Int32] = []
        var typeIds: [Int32] = []
        let total = a.count + (b?.count ?? 0) + addedCount(pair: b != nil)
        ids.reserveCapacity(total)
        typeIds.reserveCapacity(total)
        for piece in template {
            switch piece {
            case .special(let special, let typeId):
                ids.append(contentsOf: special)
                typeIds.append(contentsOf: repeatElement(typeId, count: special.count))
            case .sequence(let second, let typeId):
                guard let s = second ? b : a else { continue }
                ids.append(contentsOf: s)
                typeIds.append(contentsOf: repeatElement(typeId, count: s.count))
            }
        }
        return Encoding(ids: ids, typeIds: typeIds, truncated: truncated)
    }
}

/// `longest_first` truncation of a pair to `budget` ids in all (specials excluded):
/// the lengths each sequence keeps, exactly as tokenizers computes them.
func longestFirstLengths(_ lengthA: Int, _ lengthB: Int, budget: Int) -> (Int, Int) {
    guard lengthA + lengthB > budget else { return (lengthA, lengthB) }
    if budget == 0 { return (0, 0) }
    // With n1 the shorter: keep n1 if the longer can have the rest, else split
    // the budget in half (the odd id to the longer).
    var n1 = lengthA, n2 = lengthB
    let swapped = n1 > n2
    if swapped { swap(&n1, &n2) }
    if n1 > budget {
        n2 = n1
    } else {
        n2 = max(n1, budget - n1)
    }
    if n1 + n2 > budget {
        n1 = budget / 2
        n2 = n1 + budget % 2
    }
    if swapped { swap(&n1, &n2) }
    return (min(n1, lengthA), min(n2, lengthB))
}
