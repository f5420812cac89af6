import Foundation
import Generator

// MARK: - Cleaning, hygiene and the paper's filters

/// Why a chain ended before its last round, or was dropped.
public enum ChainStop: String, Codable, Sendable, CaseIterable {
    /// An output was empty (paper filter).
    case empty
    /// An output contained a newline (paper filter).
    case newline
    /// Decoding started repeating itself (a token n-gram three times in a row).
    case loop
    /// An output was more than twice as long as the anchor.
    case tooLong = "too_long"
    /// An output repeated an earlier sentence of the chain.
    case repeated
    /// An output talked about the task instead of rewriting.
    case metaText = "meta_text"
    /// An output left the anchor's script.
    case language
    /// The finished list's last or second-to-last sentence occurs three or
    /// more times in it (paper filter).
    case collapsed
}

/// The rules that judge one rewrite. Pure functions of text, so the
/// filters are tested without a model.
public enum ChainRules {
    /// The output with surrounding whitespace and backticks removed (docs/method.md §1).
    public static func clean(_ text: String) -> String {
        let strip = CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "`"))
        return text.trimmingCharacters(in: strip)
    }

    /// The first non-empty line of the output, cleaned: small generators
    /// often add a blank line and a comment after the rewrite, which the
    /// paper's newline filter would turn into a dropped chain (hygiene only).
    public static func firstLine(_ text: String) -> String {
        let lines = clean(text).split(whereSeparator: \.isNewline)
        return lines.first.map { clean(String($0)) } ?? ""
    }

    /// Openings and phrases of outputs that describe the task instead of
    /// doing it, seen with small generators ("Rewrite the sentence: …",
    /// "The original sentence is …"). Lowercased.
    static let metaPhrases = [
        "rewrite", "rewritten", "original sentence", "the sentence", "this sentence", "entailment",
        "result:", "here is", "here's", "sure,", "sure!", "i'm sorry", "i cannot", "as an ai",
    ]

    /// Whether `lower` contains `phrase` starting at a word boundary ("sure,"
    /// must not match "pleasure,").
    static func contains(_ lower: String, phrase: String) -> Bool {
        var range = lower.startIndex..<lower.endIndex
        while let hit = lower.range(of: phrase, range: range) {
            if hit.lowerBound == lower.startIndex || !lower[lower.index(before: hit.lowerBound)].isLetter { return true }
            range = hit.upperBound..<lower.endIndex
        }
        return false
    }

    /// The stop reason of output `text` in round r of a chain whose members so
    /// far are `list` (x0 first), or nil when the chain may go on.
    /// `hygiene` off applies only the paper's filters (empty, newline).
    public static func judge(_ text: String, list: [String], hygiene: Bool, looped: Bool) -> ChainStop? {
        if text.isEmpty { return .empty }
        if text.contains(where: \.isNewline) { return .newline }
        guard hygiene else { return nil }
        if looped { return .loop }
        let anchor = list[0]
        if text.count > 2 * max(anchor.count, 20) { return .tooLong }
        let key = normalised(text)
        if list.contains(where: { normalised($0) == key }) { return .repeated }
        let lower = text.lowercased()
        if metaPhrases.contains(where: { contains(lower, phrase: $0) }) && !anchorMentions(anchor, lower) { return .metaText }
        if leavesScript(text, anchor: anchor) { return .language }
        return nil
    }

    /// The paper's final filter: the list collapsed into a loop when its last
    /// or second-to-last sentence occurs three or more times in it.
    public static func collapsed(_ list: [String]) -> Bool {
        for k in [list.count - 1, list.count - 2] where k >= 0 {
            if list.filter({ $0 == list[k] }).count >= 3 { return true }
        }
        return false
    }

    /// Whether `text` (lowercased) uses a meta phrase the anchor itself
    /// uses, so an anchor about sentences is not cut for that.
    private static func anchorMentions(_ anchor: String, _ lower: String) -> Bool {
        let a = anchor.lowercased()
        return metaPhrases.contains { contains(lower, phrase: $0) && contains(a, phrase: $0) }
    }

    /// Lowercased letters and digits only: "A man, playing." == "a man playing".
    static func normalised(_ s: String) -> String {
        String(s.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.map(Character.init))
    }

    /// Whether more than a third of `text`'s letters are outside the
    /// scripts the anchor's letters use (Latin vs everything else, by
    /// Unicode block), e.g. an English chain that turns into Chinese.
    static func leavesScript(_ text: String, anchor: String) -> Bool {
        func latin(_ u: Unicode.Scalar) -> Bool { u.value < 0x250 || (0x1E00...0x1EFF).contains(u.value) }
        let letters = text.unicodeScalars.filter(\.properties.isAlphabetic)
        guard !letters.isEmpty else { return false }
        let anchorLatin = anchor.unicodeScalars.filter(\.properties.isAlphabetic).allSatisfy(latin)
        guard anchorLatin else { return false }
        let foreign = letters.filter { !latin($0) }.count
        return foreign * 3 > letters.count
    }
}

/// Detects decoding that has started to loop: a unit of 2–8 tokens repeated
/// three times in a row, or one token five times. A single token three
/// times is not enough: numbers are one token per digit ("2000" ends in
/// three "0"s), and those are fine.
public struct LoopDetector: Sendable {
    private let units = RepetitionStop(minPeriod: 2, maxPeriod: 8, times: 3)
    private let single = RepetitionStop(minPeriod: 1, maxPeriod: 1, times: 5)

    /// A detector with those thresholds.
    public init() {}

    /// Whether `tokens` ends in a loop.
    public func isLooping(_ tokens: [Int32]) -> Bool { units.isLooping(tokens) || single.isLooping(tokens) }
}
