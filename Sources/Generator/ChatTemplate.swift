import Foundation

// MARK: - Chat templates
//
// GGUF files carry a Jinja chat template (`tokenizer.chat_template`). We do
// not run Jinja: we recognise the two formats in wide use and render them
// directly. A template that is neither is an error unless the caller names
// the format.

/// One chat turn.
public struct ChatMessage: Sendable, Equatable {
    /// `system`, `user` or `assistant`.
    public var role: String
    /// The text of the turn.
    public var content: String

    /// A turn.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A chat format this module renders.
public enum ChatTemplate: Sendable, Equatable {
    /// `<|im_start|>role\ncontent<|im_end|>\n` (SmolLM2, Qwen). When
    /// `defaultSystem` is set and the first message is not a system turn,
    /// that system turn is put first (as SmolLM2's and Qwen2's templates do).
    case chatML(defaultSystem: String?)
    /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`
    /// (Llama 3); BOS comes from the tokenizer.
    case llama3

    /// A format by name: `chatml` or `llama3`.
    public init?(name: String) {
        switch name.lowercased() {
        case "chatml": self = .chatML(defaultSystem: nil)
        case "llama3", "llama-3": self = .llama3
        default: return nil
        }
    }

    /// Recognises a Jinja template source; throws `unknownChatTemplate`.
    public init(source: String) throws {
        if source.contains("<|im_start|>") {
            self = .chatML(defaultSystem: Self.defaultSystemPrompt(source))
        } else if source.contains("<|start_header_id|>") && source.contains("<|eot_id|>") {
            self = .llama3
        } else {
            throw GeneratorError.unknownChatTemplate(source)
        }
    }

    /// The system text a ChatML template inserts when none is given: a
    /// string literal `'<|im_start|>system\n…<|im_end|>` under a test of
    /// the first message's role, either `!= 'system'` (SmolLM2) or the
    /// `else` of `== 'system'` (Qwen2). Literals that are not one piece of
    /// text (`'<|im_start|>system\n' + messages[0]['content'] + …`, or the
    /// tools branch's opener alone) are skipped: the text must not contain
    /// a quote.
    static func defaultSystemPrompt(_ source: String) -> String? {
        let tests = ["messages[0]['role'] != 'system'", "messages[0].role != 'system'",
                     "messages[0]['role'] == 'system'", "messages[0].role == 'system'"]
        guard tests.contains(where: source.contains) else { return nil }
        for opener in ["'<|im_start|>system\n", "'<|im_start|>system\\n"] {
            var from = source.startIndex
            while let open = source.range(of: opener, range: from..<source.endIndex) {
                from = open.upperBound
                guard let close = source.range(of: "<|im_end|>", range: open.upperBound..<source.endIndex) else { break }
                let text = String(source[open.upperBound..<close.lowerBound])
                if text.contains("'") || text.contains("\"") || text.isEmpty { continue }
                return text.replacingOccurrences(of: "\\n", with: "\n")
            }
        }
        return nil
    }

    /// The prompt text for `messages`, ending with the assistant's header
    /// when `addGenerationPrompt`. Tokenise it with special tokens parsed.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch self {
        case let .chatML(defaultSystem):
            if let sys = defaultSystem, messages.first?.role != "system" {
                out += "<|im_start|>system\n\(sys)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama3:
            for m in messages {
                out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(m.content.trimmingWhitespace())<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        }
        return out
    }
}

extension String {
    /// The string without leading and trailing whitespace (Jinja's `trim`).
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}

extension LlamaModel {
    /// The model's chat format, from its template or from `override`
    /// (`chatml`, `llama3`); throws when neither identifies one.
    public func chatTemplate(override: String? = nil) throws -> ChatTemplate {
        if let override {
            guard let t = ChatTemplate(name: override) else { throw GeneratorError.unknownChatTemplate(override) }
            if case .chatML = t, let src = chatTemplateSource, src.contains("<|im_start|>") {
                return try ChatTemplate(source: src)
            }
            return t
        }
        guard let src = chatTemplateSource else { throw GeneratorError.unknownChatTemplate("(the model has no chat template)") }
        return try ChatTemplate(source: src)
    }

    /// Token ids of a one-turn user prompt in the model's chat format.
    public func chatPrompt(_ user: String, system: String? = nil, template: ChatTemplate) -> [Int32] {
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: user))
        return tokenizer.encode(template.render(messages), parseSpecial: true)
    }
}
