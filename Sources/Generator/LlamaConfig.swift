// MARK: - Llama-family configuration

/// How rotary position embeddings pair up the dimensions of a head.
public enum RopeStyle: Sendable, Equatable {
    /// Adjacent pairs (x[2i], x[2i+1]): llama.cpp's "normal" rope (Llama, SmolLM).
    case adjacent
    /// Halves (x[i], x[i + d/2]): GPT-NeoX style (Qwen2).
    case halves
}

/// The immutable shape of a Llama-family model, read from GGUF metadata.
public struct LlamaConfig: Sendable, Equatable {
    /// `general.architecture` (`llama` or `qwen2`).
    public let architecture: String
    /// Model width (`embedding_length`).
    public let dim: Int
    /// Feed-forward width.
    public let hiddenDim: Int
    /// Transformer blocks.
    public let layers: Int
    /// Query heads.
    public let heads: Int
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    public let kvHeads: Int
    /// Width of one head.
    public let headDim: Int
    /// Vocabulary size.
    public let vocabSize: Int
    /// Longest context the model was trained for.
    public let contextLength: Int
    /// RoPE base frequency.
    public let ropeBase: Double
    /// Dimensions of each head that RoPE rotates.
    public let ropeDim: Int
    /// RoPE pairing.
    public let ropeStyle: RopeStyle
    /// RMSNorm epsilon.
    public let rmsEps: Float

    /// Key/value width of one position: `kvHeads · headDim`.
    public var kvDim: Int { kvHeads * headDim }

    /// Architectures this decoder runs.
    public static let supportedArchitectures: Set<String> = ["llama", "qwen2"]

    /// Reads `<arch>.*` keys of `file`; throws for unsupported architectures
    /// and inconsistent shapes.
    public init(file: GGUFFile) throws {
        let arch = try file.string("general.architecture")
        guard Self.supportedArchitectures.contains(arch) else { throw GGUFError.unsupportedArchitecture(arch) }
        architecture = arch
        dim = try file.int("\(arch).embedding_length")
        hiddenDim = try file.int("\(arch).feed_forward_length")
        layers = try file.int("\(arch).block_count")
        heads = try file.int("\(arch).attention.head_count")
        kvHeads = file.metadata["\(arch).attention.head_count_kv"]?.int ?? heads
        headDim = file.metadata["\(arch).attention.key_length"]?.int ?? (heads > 0 ? dim / heads : 0)
        contextLength = file.metadata["\(arch).context_length"]?.int ?? 2048
        ropeBase = file.metadata["\(arch).rope.freq_base"]?.double ?? 10_000
        ropeDim = file.metadata["\(arch).rope.dimension_count"]?.int ?? headDim
        rmsEps = Float(file.metadata["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5)
        ropeStyle = arch == "qwen2" ? .halves : .adjacent
        // The embedding's rows are the vocabulary the network scores; some
        // models (Qwen2) pad it past the tokenizer's last id.
        if let embd = file.tensors["token_embd.weight"], embd.shape.count == 2 {
            vocabSize = embd.shape[1]
        } else if case let .strings(tokens)? = file.metadata["tokenizer.ggml.tokens"] {
            vocabSize = tokens.count
        } else {
            vocabSize = try file.int("\(arch).vocab_size")
        }
        guard dim > 0, hiddenDim > 0, layers > 0, heads > 0, kvHeads > 0, heads % kvHeads == 0,
              headDim > 0, headDim * heads == dim || file.metadata["\(arch).attention.key_length"] != nil,
              ropeDim > 0, ropeDim <= headDim, ropeDim % 2 == 0, vocabSize > 0, contextLength > 0
        else {
            throw GGUFError.invalid("inconsistent \(arch) hyper-parameters (dim \(dim), heads \(heads)/\(kvHeads), layers \(layers))")
        }
    }
}
