import Foundation
import Numerics

// MARK: - Search over the state

/// How a search was answered, for tests and metrics.
public enum SearchPlan: String, Sendable {
    /// Every live vector scored.
    case flat
    /// HNSW traversal; a filter, if any, applied to results during the walk.
    case hnsw
    /// A selective filter: every vector that passes it scored exactly.
    case filteredFlat
}

extension CollectionState {
    /// Rows sampled to estimate how many documents pass a filter.
    static let selectivitySample = 512

    /// The acceptance test for slots: live, and passing the filter.
    func acceptor(_ filter: Filter?) -> ((Int32) -> Bool)? {
        if let f = filter {
            let ids = self.ids, meta = self.metadata
            return { slot in
                guard let id = ids[Int(slot)] else { return false }
                return f.matches(id: id, metadata: meta[Int(slot)])
            }
        }
        if tombstones > 0 {
            let ids = self.ids
            return { ids[Int($0)] != nil }
        }
        return nil
    }

    /// Estimated fraction of rows passing `accept`, from an even sample.
    func estimatedPassRate(_ accept: (Int32) -> Bool) -> Double {
        let n = vectors.count
        guard n > 0 else { return 0 }
        let samples = min(n, CollectionState.selectivitySample)
        var hits = 0
        for i in 0..<samples where accept(Int32(i * n / samples)) { hits += 1 }
        return Double(hits) / Double(samples)
    }

    /// Chooses the plan: flat when there is no graph or `exact`; with a
    /// filter so selective that a graph walk would visit more nodes than a
    /// scan of the passing rows costs, a filtered flat scan.
    func plan(filter: Filter?, ef: Int, exact: Bool, accept: ((Int32) -> Bool)?) -> SearchPlan {
        guard graph != nil, !exact else { return .flat }
        guard filter != nil, let a = accept else { return .hnsw }
        let passing = estimatedPassRate(a) * Double(vectors.count)
        // A walk finds about `rate` passing nodes per node visited, so it
        // visits ≈ ef / rate nodes at random; a scan touches every row once.
        return passing < max(Double(ef) * 8, Double(vectors.count) / 50) ? .filteredFlat : .hnsw
    }

    /// The best `k` slots for one normalised query, best first.
    func search(
        _ query: UnsafePointer<Float>, k: Int, filter: Filter?, ef: Int, exact: Bool
    ) -> (hits: [Scored], plan: SearchPlan) {
        let accept = acceptor(filter)
        let p = plan(filter: filter, ef: ef, exact: exact, accept: accept)
        switch p {
        case .flat, .filteredFlat:
            return (FlatSearch.search(vectors, query: query, k: k, accept: accept), p)
        case .hnsw:
            let found = graph!.search(query, k: k, ef: max(ef, k), accept: accept)
            // A filtered walk can run out of passing nodes it can reach;
            // then the exact filtered scan guarantees k passing results.
            if found.count < k && found.count < liveCount && filter != nil {
                return (FlatSearch.search(vectors, query: query, k: k, accept: accept), .filteredFlat)
            }
            return (found, p)
        }
    }

    /// The best `k` slots for each of `batch` normalised queries `(batch, d)`.
    func searchBatch(
        _ queries: UnsafePointer<Float>, batch: Int, k: Int, filter: Filter?, ef: Int, exact: Bool
    ) -> [[Scored]] {
        let accept = acceptor(filter)
        let p = plan(filter: filter, ef: ef, exact: exact, accept: accept)
        if p != .hnsw {
            return FlatSearch.searchBatch(vectors, queries: queries, batch: batch, k: k, accept: accept)
        }
        let out = UnsafeMutableBufferPointer<[Scored]>.allocate(capacity: batch)
        out.initialize(repeating: [])
        defer { out.deallocate() }
        let d = dimensions
        let threads = max(1, min(System.activeCores, batch))
        // Queries are handed out one at a time rather than striped, so a
        // thread that is descheduled (a busy machine) or drew slow queries
        // does not hold the whole batch back.
        let next = AtomicCounter(0)
        parallelFor(iterations: threads) { _ in
            while true {
                let i = next.fetchAdd(1)
                if i >= batch { break }
                out[i] = self.search(queries + i * d, k: k, filter: filter, ef: ef, exact: false).hits
            }
        }
        let result = Array(out)
        _ = out.baseAddress!.deinitialize(count: batch)
        return result
    }
}
