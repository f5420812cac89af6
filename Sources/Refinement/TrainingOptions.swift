import Foundation

// MARK: - Training settings

/// Hyper-parameters of post-training on ranking lists, with docs/method.md's
/// defaults where it gives them.
public struct TrainingOptions: Sendable, Codable, Equatable {
    /// Peak learning rate (paper: 3e-6 for BERT-base).
    public var learningRate: Double = 3e-6
    /// Optimiser moments and weight decay (issue: 0.01; docs/method.md: 0).
    public var adamW = AdamWOptions()
    /// Share of the steps spent warming the learning rate up linearly from
    /// 0; it then decays linearly to 0 at the last step.
    public var warmupFraction: Double = 0.1
    /// Steps to run; nil = one epoch (every list once).
    public var steps: Int?
    /// Lists per step; each list is its own similarity matrix.
    public var listsPerStep: Int = 1
    /// Tokens per sentence, [CLS] and [SEP] included (paper: 32).
    public var maxLength: Int = 32
    /// Evaluate on the development set every this many steps (paper: 25).
    public var evaluateEvery: Int = 25
    /// Global gradient-norm clip.
    public var gradientClip: Double = 1.0
    /// Seeds the list order and the loss's tie-breaking shuffles.
    public var seed: UInt64 = 42
    /// τ, τ2, ω.
    public var loss = RankingLossOptions()
    /// Keep the weights of the best development evaluation (true), or the
    /// last step's (false; for experiments that study the run itself).
    public var keepBest = true

    enum CodingKeys: String, CodingKey {
        case learningRate = "learning_rate", adamW = "adamw", warmupFraction = "warmup_fraction", steps
        case listsPerStep = "lists_per_step", maxLength = "max_length", evaluateEvery = "evaluate_every"
        case gradientClip = "gradient_clip", seed, loss, keepBest = "keep_best"
    }

    public init() {}

    /// Rejects settings no run can use, naming the setting.
    public func validate() throws {
        func positive(_ name: String, _ v: Double) throws {
            guard v.isFinite, v > 0 else { throw TrainingError.badOption(name: name, reason: "must be a finite number > 0, got \(v)") }
        }
        try positive("learning rate", learningRate)
        try positive("tau", loss.tau)
        try positive("teacher tau", loss.teacherTau)
        try positive("omega", loss.omega)
        try positive("gradient clip", gradientClip)
        try positive("epsilon", adamW.epsilon)
        guard adamW.weightDecay.isFinite, adamW.weightDecay >= 0 else {
            throw TrainingError.badOption(name: "weight decay", reason: "must be a finite number ≥ 0, got \(adamW.weightDecay)")
        }
        for (name, b) in [("beta1", adamW.beta1), ("beta2", adamW.beta2)] where !(b >= 0 && b < 1) {
            throw TrainingError.badOption(name: name, reason: "must be in [0, 1), got \(b)")
        }
        guard warmupFraction >= 0 && warmupFraction < 1 else {
            throw TrainingError.badOption(name: "warm-up fraction", reason: "must be in [0, 1), got \(warmupFraction)")
        }
        if let steps, steps < 1 { throw TrainingError.badOption(name: "steps", reason: "must be ≥ 1, got \(steps)") }
        guard listsPerStep >= 1 else { throw TrainingError.badOption(name: "lists per step", reason: "must be ≥ 1, got \(listsPerStep)") }
        guard maxLength >= 3 else { throw TrainingError.badOption(name: "max length", reason: "must be ≥ 3 tokens, got \(maxLength)") }
        guard evaluateEvery >= 1 else { throw TrainingError.badOption(name: "evaluate every", reason: "must be ≥ 1, got \(evaluateEvery)") }
    }

    /// The learning rate at 0-based `step` of `total`: linear warm-up, then
    /// linear decay to 0 (as transformers' linear schedule).
    public func learningRate(step: Int, of total: Int) -> Double {
        let warmup = Int((warmupFraction * Double(total)).rounded())
        if step < warmup { return learningRate * Double(step + 1) / Double(warmup + 1) }
        let remaining = Double(total - step), span = Double(max(1, total - warmup))
        return learningRate * max(0, remaining / span)
    }
}
