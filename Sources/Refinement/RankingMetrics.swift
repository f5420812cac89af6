import Foundation

// MARK: - Evaluation metrics
//
// Rank correlations for STS, and ranking metrics (nDCG, recall, MAP) for
// retrieval and reranking.

/// Evaluation metrics used by `ranksmith eval` and the refinement loop.
public enum RankingMetrics {
    /// Average ranks (1-based), ties sharing the mean of their positions.
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && values[order[j + 1]] == values[order[i]] { j += 1 }
            let mean = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = mean }
            i = j + 1
        }
        return ranks
    }

    /// Pearson correlation; 0 when either side is constant.
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count)
        guard x.count > 1 else { return 0 }
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in x.indices {
            let dx = x[i] - mx, dy = y[i] - my
            sxy += dx * dy; sxx += dx * dx; syy += dy * dy
        }
        guard sxx > 0, syy > 0 else { return 0 }
        return sxy / (sxx * syy).squareRoot()
    }

    /// Spearman rank correlation (Pearson of average ranks).
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        pearson(ranks(x), ranks(y))
    }

    /// nDCG@k of a ranked list of document ids against graded relevance
    /// (`gains[id]`, missing = 0), with the standard log2 discount.
    public static func ndcg(ranked: [String], gains: [String: Double], k: Int) -> Double {
        func dcg(_ g: [Double]) -> Double {
            g.prefix(k).enumerated().reduce(0) { $0 + $1.element / log2(Double($1.offset) + 2) }
        }
        let ideal = dcg(gains.values.filter { $0 > 0 }.sorted(by: >))
        guard ideal > 0 else { return 0 }
        return dcg(ranked.map { gains[$0] ?? 0 }) / ideal
    }

    /// Recall@k: share of relevant ids (gain > 0) found in the top k.
    public static func recall(ranked: [String], gains: [String: Double], k: Int) -> Double {
        let relevant = Set(gains.filter { $0.value > 0 }.keys)
        guard !relevant.isEmpty else { return 0 }
        return Double(ranked.prefix(k).filter(relevant.contains).count) / Double(relevant.count)
    }

    /// Average precision of a ranked list with binary relevance.
    public static func averagePrecision(ranked: [String], relevant: Set<String>) -> Double {
        guard !relevant.isEmpty else { return 0 }
        var hits = 0, total = 0.0
        for (i, id) in ranked.enumerated() where relevant.contains(id) {
            hits += 1
            total += Double(hits) / Double(i + 1)
        }
        return total / Double(relevant.count)
    }
}
