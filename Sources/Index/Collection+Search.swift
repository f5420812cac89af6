import Foundation

// MARK: - Searching a collection

extension Collection {
    /// The `topK` documents most similar to `vector` (cosine), best first.
    ///
    /// - `filter`: only documents passing it are returned, and still `topK`
    ///   of them when that many pass — a selective filter switches to an
    ///   exact scan of the passing documents instead of a graph walk.
    /// - `scoreThreshold`: drops hits scoring below it (so fewer may come back).
    /// - `efSearch`: candidate list for HNSW (default: the collection's
    ///   setting; raised to `topK`); ignored by flat collections.
    /// - `exact`: score every vector even when the collection has a graph.
    ///
    /// Throws `wrongDimensions`/`invalidVector` for a bad vector and
    /// `invalidParameter` for `topK` outside 1…10,000 or `efSearch` outside 1…4096.
    public func search(
        vector: [Float], topK: Int, filter: Filter? = nil, scoreThreshold: Float? = nil,
        efSearch: Int? = nil, exact: Bool = false
    ) throws -> [Hit] {
        let q = try checkedQuery(vector, topK: topK, efSearch: efSearch, field: "vector")
        return withState { state in
            let ef = efSearch ?? settings.hnsw.efSearch
            let found = q.withUnsafeBufferPointer {
                state.search($0.baseAddress!, k: topK, filter: filter, ef: ef, exact: exact).hits
            }
            return hits(found, state: state, threshold: scoreThreshold)
        }
    }

    /// One search per vector, answered together: flat collections score the
    /// whole batch with one matrix product per block of rows; HNSW
    /// collections walk the graph for the queries in parallel.
    public func search(
        vectors: [[Float]], topK: Int, filter: Filter? = nil, scoreThreshold: Float? = nil,
        efSearch: Int? = nil, exact: Bool = false
    ) throws -> [[Hit]] {
        if vectors.isEmpty { return [] }
        var packed = [Float]()
        packed.reserveCapacity(vectors.count * dimensions)
        for (i, v) in vectors.enumerated() {
            packed += try checkedQuery(v, topK: topK, efSearch: efSearch, field: "vectors[\(i)]")
        }
        return withState { state in
            let ef = efSearch ?? settings.hnsw.efSearch
            let found = packed.withUnsafeBufferPointer {
                state.searchBatch($0.baseAddress!, batch: vectors.count, k: topK, filter: filter, ef: ef, exact: exact)
            }
            return found.map { hits($0, state: state, threshold: scoreThreshold) }
        }
    }

    /// Which plan a search with this filter would use now (for tests and metrics).
    public func plan(filter: Filter?, efSearch: Int? = nil, exact: Bool = false) -> SearchPlan {
        withState { state in
            state.plan(filter: filter, ef: efSearch ?? settings.hnsw.efSearch, exact: exact, accept: state.acceptor(filter))
        }
    }

    private func checkedQuery(_ v: [Float], topK: Int, efSearch: Int?, field: String) throws -> [Float] {
        guard topK >= 1, topK <= Limits.maxTopK else {
            throw IndexError.invalidParameter(field: "top_k", reason: "must be in 1…\(Limits.maxTopK), got \(topK)")
        }
        if let ef = efSearch, ef < 1 || ef > 4096 {
            throw IndexError.invalidParameter(field: "ef_search", reason: "must be in 1…4096, got \(ef)")
        }
        return try VectorCheck.normalised(v, dimensions: dimensions, field: field)
    }

    private func hits(_ found: [Scored], state: CollectionState, threshold: Float?) -> [Hit] {
        var out: [Hit] = []
        out.reserveCapacity(found.count)
        for s in found {
            if let t = threshold, s.score < t { break }
            out.append(Hit(document: state.document(at: Int(s.slot)), score: s.score))
        }
        return out
    }
}
