import Encoder
import Foundation

// MARK: - How well a model ranks the lists

/// Agreement of a model with the order of ranking lists: for each list,
/// the Spearman correlation between each sentence's cosine to the anchor
/// and its place in the list (reversed, so that 1 means the model puts
/// every x_r exactly in list order, farther as r grows). On lists held
/// out from training it shows whether training taught the order.
public enum ListOrderEvaluation {
    /// Mean over lists of Spearman × 100; sentences cut to `maxLength` tokens.
    public static func run(model: BertModel, lists: [[String]], maxLength: Int = 32, threads: Int = 1) -> Double {
        guard !lists.isEmpty else { return 0 }
        var total = 0.0
        for list in lists {
            let encodings = list.map { model.tokenizer.encode($0, maxLength: min(maxLength, model.maxSequenceLength)) }
            let vectors = model.embed(encodings, threads: threads)
            let h = vectors.cols
            let cosines = (1..<list.count).map { r in (0..<h).reduce(0.0) { $0 + Double(vectors[0, $1]) * Double(vectors[r, $1]) } }
            total += RankingMetrics.spearman(cosines, (1..<list.count).map { -Double($0) })
        }
        return total / Double(lists.count) * 100
    }
}
