import Encoder
import Foundation
import Numerics

// MARK: - STS evaluation

/// Sentence pairs with gold similarity scores, read from JSONL
/// (`sentence1`, `sentence2`, `score` per line).
public struct STSPairs: Sendable {
    public var first: [String] = []
    public var second: [String] = []
    public var scores: [Double] = []
    public var count: Int { scores.count }

    /// Reads `path`; a line without the three fields is an error naming it.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EncoderError.missingFile(path)
        }
        for (n, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() where !line.isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let s1 = object["sentence1"] as? String, let s2 = object["sentence2"] as? String,
                  let score = (object["score"] as? NSNumber)?.doubleValue ?? (object["score"] as? String).flatMap(Double.init)
            else { throw EncoderError.badInput("\(path):\(n + 1): expected an object with sentence1, sentence2 and a numeric score") }
            first.append(s1); second.append(s2); scores.append(score)
        }
    }
}

/// Correlation of cosine similarity with gold scores.
public enum STSEvaluation {
    /// Spearman and Pearson, both × 100 as papers report them. `stop` is
    /// asked between batches; once it says true the figures are meaningless
    /// (the caller checks it again and discards them).
    public static func run(model: BertModel, pairs: STSPairs, batchSize: Int = 32, threads: Int = 1,
                           stop: () -> Bool = { false }) -> (spearman: Double, pearson: Double) {
        // Embed each distinct sentence once.
        var index: [String: Int] = [:]
        var texts: [String] = []
        for s in pairs.first + pairs.second where index[s] == nil {
            index[s] = texts.count
            texts.append(s)
        }
        let vectors = model.embedAll(texts, batchSize: batchSize, threads: threads, stop: stop).vectors
        let h = vectors.cols
        let cosines: [Double] = vectors.data.withUnsafeBufferPointer { p in
            (0..<pairs.count).map { i in
                Double(Kernels.dot(p.baseAddress! + index[pairs.first[i]]! * h, p.baseAddress! + index[pairs.second[i]]! * h, h))
            }
        }
        return (RankingMetrics.spearman(cosines, pairs.scores) * 100, RankingMetrics.pearson(cosines, pairs.scores) * 100)
    }
}
