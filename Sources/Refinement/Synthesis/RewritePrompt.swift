import Generator

// MARK: - The rewriting prompt

/// The prompt of one rewrite, split so that everything before the sentence
/// (system turn, user header, instruction) is one token prefix shared by
/// every round and branch of a job, computed once (`PrefixCache`).
///
/// The prompt is the concatenation of three separately tokenised parts:
/// the prefix, the sentence (special tokens not parsed, so a sentence can
/// never inject a chat marker) and the suffix. Tokenising them apart keeps
/// the prefix's tokens the same for every sentence, which the cache needs.
public struct RewritePrompt: Sendable {
    /// The instruction before the sentence (docs/method.md §1, in our words).
    public static let instructionHead = "Write a sentence that is entailment with: ```"
    /// What follows the sentence inside the user turn.
    public static let instructionTail = "```. Result:"

    /// Tokens of everything before the sentence (BOS included when the model wants one).
    public let prefix: [Int32]
    /// What the assistant's answer starts with: the opening backticks of
    /// the instruction's format, so the model writes the sentence itself
    /// instead of talking about it ("The sentence is …"); decoding stops
    /// at the closing backticks.
    public static let answerOpening = "```"

    /// Tokens after the sentence: the end of the instruction and of the
    /// user turn, the assistant header and `answerOpening`.
    public let suffix: [Int32]
    private let tokenizer: TextTokenizer

    /// The prompt for `model`'s chat template.
    public init(model: LlamaModel, template: ChatTemplate) {
        let marker = "\u{1}SENTENCE\u{1}"
        let text = template.render([ChatMessage(role: "user", content: Self.instructionHead + marker + Self.instructionTail)])
        let parts = text.components(separatedBy: marker)
        tokenizer = model.tokenizer
        prefix = model.tokenizer.encode(parts[0], parseSpecial: true)
        suffix = model.tokenizer.encode((parts.count > 1 ? parts[1] : "") + Self.answerOpening, parseSpecial: true, addBOS: false)
    }

    /// Tokens of `sentence` alone (what the n-gram blocker reads).
    public func sentenceTokens(_ sentence: String) -> [Int32] {
        tokenizer.encode(sentence, parseSpecial: false, addBOS: false)
    }

    /// The whole prompt asking to rewrite `sentence`.
    public func tokens(rewriting sentence: String) -> [Int32] {
        prefix + sentenceTokens(sentence) + suffix
    }

    /// The user turn's text for a chat API (remote generators).
    public static func userText(rewriting sentence: String) -> String {
        instructionHead + sentence + instructionTail
    }
}
