import Encoder
import Foundation
import Numerics

// MARK: - Do the lists rank?

/// Whether a dataset of ranking lists really ranks (docs/method.md §1): the mean
/// cosine of x_r to x_0 per round r under an embedding model (it should
/// fall as r grows), the Spearman correlation between r and that
/// similarity over every (list, r), and why chains stopped.
public struct ListQuality: Codable, Sendable {
    /// Lists read (kept ones).
    public var lists = 0
    /// Chains dropped (from the rejected file, when given).
    public var dropped = 0
    /// Mean list length (x0 included).
    public var meanLength = 0.0
    /// Mean cos(x_r, x_0) for r = 1, 2, … (index 0 is r = 1).
    public var meanCosineByRound: [Double] = []
    /// Lists that reached round r (same indexing).
    public var listsByRound: [Int] = []
    /// Spearman × 100 between r and cos(x_r, x_0) over every (list, r ≥ 1).
    public var spearman = 0.0
    /// Share of all chains (kept and dropped) by stop reason; `complete` for full lists.
    public var stopShares: [String: Double] = [:]

    enum CodingKeys: String, CodingKey {
        case lists, dropped, meanLength = "mean_length", meanCosineByRound = "mean_cosine_by_round"
        case listsByRound = "lists_by_round", spearman, stopShares = "stop_shares"
    }

    /// Reads `lists` (and `rejected`) JSONL and embeds every sentence with `model`.
    public static func measure(model: BertModel, lists: String, rejected: String?, threads: Int = 1) throws -> ListQuality {
        func records(_ path: String) throws -> [[String: Any]] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SynthesisError.invalidInput(field: "--lists", message: "cannot read \(path)")
            }
            return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
        }
        let kept = try records(lists)
        let dropped = try rejected.map(records) ?? []
        var q = ListQuality()
        q.lists = kept.count
        q.dropped = dropped.count
        var stops: [String: Int] = [:]
        for r in kept + dropped { stops[(r["stopped"] as? String) ?? "complete", default: 0] += 1 }
        let all = Double(max(1, kept.count + dropped.count))
        q.stopShares = stops.mapValues { (Double($0) / all * 1000).rounded() / 1000 }
        let texts = kept.map { ($0["list"] as? [String]) ?? [] }
        q.meanLength = Double(texts.reduce(0) { $0 + $1.count }) / Double(max(1, texts.count))
        var sums: [Double] = [], counts: [Int] = []
        var rounds: [Double] = [], sims: [Double] = []
        for list in texts where list.count >= 2 {
            let v = model.embed(list, normalize: true, threads: threads).vectors
            let d = v.cols
            for r in 1..<list.count {
                var dot: Float = 0
                for c in 0..<d { dot += v.data[c] * v.data[r * d + c] }
                if sums.count < r { sums.append(0); counts.append(0) }
                sums[r - 1] += Double(dot); counts[r - 1] += 1
                rounds.append(Double(r)); sims.append(Double(dot))
            }
        }
        q.meanCosineByRound = zip(sums, counts).map { ($0 / Double($1) * 10000).rounded() / 10000 }
        q.listsByRound = counts
        q.spearman = rounds.count > 1 ? (RankingMetrics.spearman(rounds, sims) * 10000).rounded() / 100 : 0
        return q
    }
}
