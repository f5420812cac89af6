import Foundation

// MARK: - Weights

/// One transformer layer's weights, PyTorch layout: a linear map's weight is
/// `(out, in)` and is applied as `x · Wᵀ`.
public struct BertLayerWeights: Sendable {
    /// Query, key and value projections stacked: (3H, H); bias (3H).
    public var qkv: [Float], qkvBias: [Float]
    /// Attention output projection (H, H); bias (H).
    public var attentionOut: [Float], attentionOutBias: [Float]
    /// Layer norm after attention: (H), (H).
    public var attentionNormGamma: [Float], attentionNormBeta: [Float]
    /// Feed-forward up projection (I, H); bias (I).
    public var ffnIn: [Float], ffnInBias: [Float]
    /// Feed-forward down projection (H, I); bias (H).
    public var ffnOut: [Float], ffnOutBias: [Float]
    /// Layer norm after the feed-forward: (H), (H).
    public var outputNormGamma: [Float], outputNormBeta: [Float]
}

/// All weights of a BERT encoder, looked up by name *and* shape at load
/// time so that a mismatched file fails here, not at request time.
public struct BertWeights: Sendable {
    public var wordEmbeddings: [Float]      // (V, H)
    public var positionEmbeddings: [Float]  // (P, H)
    public var typeEmbeddings: [Float]      // (types, H)
    public var embeddingNormGamma: [Float]  // (H)
    public var embeddingNormBeta: [Float]   // (H)
    public var layers: [BertLayerWeights]
    /// BERT pooler (dense + tanh on [CLS]), used by cross-encoders: (H, H), (H).
    public var pooler: (weight: [Float], bias: [Float])?
    /// Sequence-classification head: (labels, H), (labels).
    public var classifier: (weight: [Float], bias: [Float])?

    /// Loads every tensor `config` needs from `file`.
    public init(file: SafeTensorsFile, config c: BertConfig) throws {
        // Plain BertModel exports have bare names; BertFor* models prefix "bert.".
        let prefix = file.entries["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
        func t(_ name: String, _ shape: [Int]) throws -> [Float] { try file.floats(prefix + name, shape: shape) }
        let h = c.hiddenSize, i = c.intermediateSize
        wordEmbeddings = try t("embeddings.word_embeddings.weight", [c.vocabularySize, h])
        positionEmbeddings = try t("embeddings.position_embeddings.weight", [c.maxPositions, h])
        typeEmbeddings = try t("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, h])
        embeddingNormGamma = try t("embeddings.LayerNorm.weight", [h])
        embeddingNormBeta = try t("embeddings.LayerNorm.bias", [h])
        layers = try (0..<c.layers).map { l in
            let p = "encoder.layer.\(l)."
            let q = try t(p + "attention.self.query.weight", [h, h])
            let k = try t(p + "attention.self.key.weight", [h, h])
            let v = try t(p + "attention.self.value.weight", [h, h])
            let qb = try t(p + "attention.self.query.bias", [h])
            let kb = try t(p + "attention.self.key.bias", [h])
            let vb = try t(p + "attention.self.value.bias", [h])
            return BertLayerWeights(
                qkv: q + k + v, qkvBias: qb + kb + vb,
                attentionOut: try t(p + "attention.output.dense.weight", [h, h]),
                attentionOutBias: try t(p + "attention.output.dense.bias", [h]),
                attentionNormGamma: try t(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBeta: try t(p + "attention.output.LayerNorm.bias", [h]),
                ffnIn: try t(p + "intermediate.dense.weight", [i, h]),
                ffnInBias: try t(p + "intermediate.dense.bias", [i]),
                ffnOut: try t(p + "output.dense.weight", [h, i]),
                ffnOutBias: try t(p + "output.dense.bias", [h]),
                outputNormGamma: try t(p + "output.LayerNorm.weight", [h]),
                outputNormBeta: try t(p + "output.LayerNorm.bias", [h]))
        }
        if let labels = c.classifierLabels {
            pooler = (try t("pooler.dense.weight", [h, h]), try t("pooler.dense.bias", [h]))
            classifier = (try file.floats("classifier.weight", shape: [labels, h]),
                          try file.floats("classifier.bias", shape: [labels]))
        } else {
            pooler = nil
            classifier = nil
        }
    }

    /// Every tensor under its sentence-transformers name, for writing a model
    /// folder back out (`SafeTensorsFile.write`).
    public func namedTensors(config c: BertConfig) -> [(name: String, shape: [Int], values: [Float])] {
        let h = c.hiddenSize, i = c.intermediateSize
        let prefix = classifier != nil ? "bert." : ""
        var out: [(name: String, shape: [Int], values: [Float])] = [
            (prefix + "embeddings.word_embeddings.weight", [c.vocabularySize, h], wordEmbeddings),
            (prefix + "embeddings.position_embeddings.weight", [c.maxPositions, h], positionEmbeddings),
            (prefix + "embeddings.token_type_embeddings.weight", [c.typeVocabularySize, h], typeEmbeddings),
            (prefix + "embeddings.LayerNorm.weight", [h], embeddingNormGamma),
            (prefix + "embeddings.LayerNorm.bias", [h], embeddingNormBeta),
        ]
        for (l, w) in layers.enumerated() {
            let p = prefix + "encoder.layer.\(l)."
            out += [
                (p + "attention.self.query.weight", [h, h], Array(w.qkv[0..<(h * h)])),
                (p + "attention.self.key.weight", [h, h], Array(w.qkv[(h * h)..<(2 * h * h)])),
                (p + "attention.self.value.weight", [h, h], Array(w.qkv[(2 * h * h)...])),
                (p + "attention.self.query.bias", [h], Array(w.qkvBias[0..<h])),
                (p + "attention.self.key.bias", [h], Array(w.qkvBias[h..<(2 * h)])),
                (p + "attention.self.value.bias", [h], Array(w.qkvBias[(2 * h)...])),
                (p + "attention.output.dense.weight", [h, h], w.attentionOut),
                (p + "attention.output.dense.bias", [h], w.attentionOutBias),
                (p + "attention.output.LayerNorm.weight", [h], w.attentionNormGamma),
                (p + "attention.output.LayerNorm.bias", [h], w.attentionNormBeta),
                (p + "intermediate.dense.weight", [i, h], w.ffnIn),
                (p + "intermediate.dense.bias", [i], w.ffnInBias),
                (p + "output.dense.weight", [h, i], w.ffnOut),
                (p + "output.dense.bias", [h], w.ffnOutBias),
                (p + "output.LayerNorm.weight", [h], w.outputNormGamma),
                (p + "output.LayerNorm.bias", [h], w.outputNormBeta),
            ]
        }
        if let pooler {
            out.append((prefix + "pooler.dense.weight", [h, h], pooler.weight))
            out.append((prefix + "pooler.dense.bias", [h], pooler.bias))
        }
        if let classifier {
            let labels = classifier.bias.count
            out.append(("classifier.weight", [labels, h], classifier.weight))
            out.append(("classifier.bias", [labels], classifier.bias))
        }
        return out
    }
}
