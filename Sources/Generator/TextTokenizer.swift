import Tokenization

// MARK: - Tokenizer from GGUF metadata

/// The model's tokenizer with the special ids the decoder needs, read from
/// `tokenizer.ggml.*` metadata.
public struct TextTokenizer: @unchecked Sendable {
    /// The byte-level BPE tokenizer.
    public let bpe: BPETokenizer
    /// Beginning-of-sequence id, if the vocabulary has one.
    public let bos: Int32?
    /// End-of-sequence id, if the vocabulary has one.
    public let eos: Int32?
    /// End-of-turn id of the chat format (`<|im_end|>`, `<|eot_id|>`), if any.
    public let eot: Int32?
    /// Whether a BOS token is put before a prompt (`tokenizer.ggml.add_bos_token`).
    public let addBOS: Bool
    /// Ids that end generation: EOS, EOT and other end-of-generation control tokens.
    public let endOfGeneration: Set<Int32>

    /// Reads the tokenizer of `file`; throws for non-BPE vocabularies or an
    /// unknown pre-tokeniser.
    public init(file: GGUFFile) throws {
        let model = try file.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw GGUFError.invalid("tokenizer model '\(model)' is not supported (only byte-level BPE, 'gpt2')")
        }
        guard case let .strings(tokens)? = file.metadata["tokenizer.ggml.tokens"] else {
            throw GGUFError.missingKey("tokenizer.ggml.tokens")
        }
        var merges: [String] = []
        if case let .strings(m)? = file.metadata["tokenizer.ggml.merges"] { merges = m }
        var types: [Int32] = []
        if case let .ints(t, _)? = file.metadata["tokenizer.ggml.token_type"] { types = t.map { Int32(truncatingIfNeeded: $0) } }
        let preName = file.metadata["tokenizer.ggml.pre"]?.string ?? "gpt-2"
        guard let pre = ByteLevelPreTokenizer(ggufName: preName) else {
            throw GGUFError.invalid("pre-tokenizer '\(preName)' is not supported (supported: smollm, llama-bpe, qwen2, gpt-2 and their aliases)")
        }
        bpe = try BPETokenizer(tokens: tokens, merges: merges, types: types, preTokenizer: pre)
        func id(_ key: String) -> Int32? {
            guard let v = file.metadata[key]?.int, v >= 0, v < tokens.count else { return nil }
            return Int32(v)
        }
        bos = id("tokenizer.ggml.bos_token_id")
        eos = id("tokenizer.ggml.eos_token_id")
        addBOS = file.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false
        var eot = id("tokenizer.ggml.eot_token_id")
        for name in ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"] where eot == nil {
            eot = bpe.id(of: name)
        }
        self.eot = eot
        var ends = Set<Int32>()
        if let eos { ends.insert(eos) }
        if let eot { ends.insert(eot) }
        for name in ["<|eom_id|>", "<|endoftext|>", "<|end_of_text|>"] {
            if let i = bpe.id(of: name), bpe.types[Int(i)] == .control { ends.insert(i) }
        }
        endOfGeneration = ends
    }

    /// Ids of `text`, with BOS first when the model wants it and `addBOS` is true.
    public func encode(_ text: String, parseSpecial: Bool, addBOS: Bool = true) -> [Int32] {
        var ids = bpe.encode(text, parseSpecial: parseSpecial)
        if addBOS && self.addBOS, let bos { ids.insert(bos, at: 0) }
        return ids
    }

    /// Text of `ids`, control tokens omitted.
    public func decode(_ ids: [Int32]) -> String { bpe.decode(ids) }
}
