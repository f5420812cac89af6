// MARK: - Generation options and hooks

/// How the next token is chosen from the scores.
public struct SamplingOptions: Sendable, Equatable {
    /// 0 means greedy (argmax); otherwise scores are divided by it before softmax.
    public var temperature: Float
    /// Keep only the `topK` best tokens (0 = all).
    public var topK: Int
    /// Keep the smallest set of best tokens whose probability reaches `topP` (1 = all).
    public var topP: Float
    /// Seed of the sampler's random generator (same seed, same output).
    public var seed: UInt64

    /// Greedy decoding.
    public static let greedy = SamplingOptions(temperature: 0, topK: 0, topP: 1, seed: 0)

    /// Sampling settings; the defaults are greedy.
    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    /// Whether these settings reduce to argmax.
    public var isGreedy: Bool { temperature <= 0 || topK == 1 }
}

/// Settings of one generation call.
public struct GenerationOptions: Sendable {
    /// Most tokens generated per sequence.
    public var maxTokens: Int
    /// Token choice.
    public var sampling: SamplingOptions
    /// Extra token ids that end a sequence (the model's end-of-generation
    /// tokens always do unless `ignoreEndOfGeneration`).
    public var stopTokens: Set<Int32>
    /// Strings that end a sequence; the text returned stops before them.
    public var stopStrings: [String]
    /// Classifier-free guidance scale `s` in `l_neg + s·(l_pos − l_neg)`;
    /// 1 means no guidance (the negative prompt is then not decoded).
    public var guidanceScale: Float
    /// Keep going past end-of-generation tokens (benchmarks).
    public var ignoreEndOfGeneration: Bool

    /// Options; the defaults are greedy, 128 tokens, no guidance.
    public init(
        maxTokens: Int = 128, sampling: SamplingOptions = .greedy, stopTokens: Set<Int32> = [],
        stopStrings: [String] = [], guidanceScale: Float = 1, ignoreEndOfGeneration: Bool = false
    ) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopTokens = stopTokens
        self.stopStrings = stopStrings
        self.guidanceScale = guidanceScale
        self.ignoreEndOfGeneration = ignoreEndOfGeneration
    }
}

/// Called once per sequence per step with the scores about to be sampled
/// (log-probabilities after guidance, or raw logits without it). It may
/// change them; setting a score to `-Float.infinity` bans that token.
/// `sequence` is the index of the prompt (pair) in the call; `generated`
/// the tokens chosen so far for it.
public typealias LogitsHook = (_ sequence: Int, _ generated: [Int32], _ scores: UnsafeMutableBufferPointer<Float>) -> Void

/// Called after each chosen token; returning true ends that sequence
/// (finish reason `.stopCondition`).
public typealias StopHook = (_ sequence: Int, _ generated: [Int32]) -> Bool

/// Why a sequence ended.
public enum FinishReason: String, Sendable, Equatable {
    case maxTokens = "length"
    case endOfGeneration = "stop"
    case stopString = "stop_string"
    case stopCondition = "stop_condition"
    case contextFull = "context_full"
}

/// One generated sequence.
public struct Generation: Sendable, Equatable {
    /// Token ids chosen (an end-of-generation token is not included).
    public var tokens: [Int32]
    /// Their text, cut before a stop string.
    public var text: String
    /// Why it ended.
    public var finishReason: FinishReason
    /// Prompt length in tokens (the positive prompt for guided runs).
    public var promptTokens: Int
}

/// A positive and a negative prompt decoded together with guidance.
public struct GuidedPrompt: Sendable, Equatable {
    /// Tokens of the prompt the output should follow.
    public var positive: [Int32]
    /// Tokens of the prompt the output is pushed away from. When equal to
    /// `positive` (or guidance is 1) only one branch is decoded.
    public var negative: [Int32]

    /// A pair of tokenised prompts.
    public init(positive: [Int32], negative: [Int32]) {
        self.positive = positive
        self.negative = negative
    }
}
