import Foundation

// MARK: - Settings of a synthesis run

/// How ranking lists are synthesised (docs/method.md §1 and its small-generator
/// measures). Defaults follow the paper (N = 32, s = 1.5, 100 new tokens)
/// plus n-gram blocking (n = 3) and chain hygiene, both switchable so the
/// paper's exact recipe can be run (`ngramBlock = 0`, `hygiene = false`).
public struct SynthesisSettings: Codable, Sendable, Equatable {
    /// Rounds N: a complete list has N + 1 sentences.
    public var rounds = 32
    /// Guidance scale s in `l_neg + s·(l_pos − l_neg)`; 1 means none.
    public var guidanceScale: Double = 1.5
    /// Most tokens generated per rewrite.
    public var maxNewTokens = 100
    /// n of the source n-gram blocking; 0 turns it off.
    public var ngramBlock = 3
    /// Stop a chain at a repeated sentence, meta-text, a loop, an output
    /// more than twice the anchor's length, or one that leaves the anchor's
    /// script; off means the paper's filters only.
    public var hygiene = true
    /// A chain cut short is kept if it still has this many sentences (x0 included).
    public var minListLength = 5
    /// Chains decoded together as one batch.
    public var batchChains = 16

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case rounds, guidanceScale = "guidance_scale", maxNewTokens = "max_new_tokens", ngramBlock = "ngram_block"
        case hygiene, minListLength = "min_list_length", batchChains = "batch_chains"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SynthesisSettings.defaults
        rounds = try c.decodeIfPresent(Int.self, forKey: .rounds) ?? d.rounds
        guidanceScale = try c.decodeIfPresent(Double.self, forKey: .guidanceScale) ?? d.guidanceScale
        maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens) ?? d.maxNewTokens
        ngramBlock = try c.decodeIfPresent(Int.self, forKey: .ngramBlock) ?? d.ngramBlock
        hygiene = try c.decodeIfPresent(Bool.self, forKey: .hygiene) ?? d.hygiene
        minListLength = try c.decodeIfPresent(Int.self, forKey: .minListLength) ?? d.minListLength
        batchChains = try c.decodeIfPresent(Int.self, forKey: .batchChains) ?? d.batchChains
    }

    static let defaults = SynthesisSettings()

    /// Throws `SynthesisError.invalidSetting` naming the first bad field
    /// (by its JSON name) and the range it must be in.
    public func validate() throws {
        func bad(_ field: String, _ rule: String) -> SynthesisError { .invalidSetting(field: field, message: "\(field) must be \(rule)") }
        guard rounds >= 1 && rounds <= 256 else { throw bad("rounds", "between 1 and 256") }
        guard guidanceScale.isFinite && guidanceScale >= 0 && guidanceScale <= 20 else { throw bad("guidance_scale", "between 0 and 20") }
        guard maxNewTokens >= 1 && maxNewTokens <= 1024 else { throw bad("max_new_tokens", "between 1 and 1024") }
        guard ngramBlock >= 0 && ngramBlock <= 16 else { throw bad("ngram_block", "between 0 (off) and 16") }
        guard minListLength >= 2 else { throw bad("min_list_length", "at least 2") }
        guard batchChains >= 1 && batchChains <= 256 else { throw bad("batch_chains", "between 1 and 256") }
    }
}

/// Why a synthesis could not run.
public enum SynthesisError: Error, Equatable, CustomStringConvertible {
    /// A setting is out of range; `field` is its JSON name.
    case invalidSetting(field: String, message: String)
    /// The input is unusable; `field` names the request field it came from.
    case invalidInput(field: String, message: String)
    /// The generator failed (file, model, remote server).
    case generator(String)
    /// Writing the output failed (full disk, permissions).
    case output(String)

    public var description: String {
        switch self {
        case let .invalidSetting(_, m), let .invalidInput(_, m): return m
        case let .generator(m): return "generator: \(m)"
        case let .output(m): return "cannot write the lists: \(m)"
        }
    }
}
