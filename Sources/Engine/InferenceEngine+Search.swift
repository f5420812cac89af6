import Foundation
import Index
import Storage

// MARK: - Search

/// A search over one collection.
public struct SearchRequest: Sendable {
    /// The collection's name.
    public var collection: String
    /// Text to embed and search with; give this or `vector`.
    public var query: String?
    /// A vector to search with; give this or `query`.
    public var vector: [Float]?
    /// Hits to return, 1…10,000.
    public var topK = 10
    /// A Qdrant-style filter (null or absent: none).
    public var filter: JSONValue?
    /// Drop hits scoring below this.
    public var scoreThreshold: Float?
    /// HNSW beam width for this search.
    public var efSearch: Int?
    /// Scan every vector instead of the graph.
    public var exact = false
    /// Re-score the candidates against `query` with the rerank pipeline.
    public var rerank = false
    /// Candidates to re-score (default max(4 × top k, 50), at most 1,000).
    public var rerankCandidates: Int?

    /// A search of `collection`; set the query and options after.
    public init(collection: String) { self.collection = collection }
}

/// Hits of a search.
public struct SearchResult: Sendable {
    /// Best first.
    public var hits: [Hit]
    /// The model version of the collection's vectors.
    public var collectionModelVersion: String
    /// Whether the hits were re-scored.
    public var reranked: Bool
    /// The model that embedded the query (and reranked).
    public var handle: ModelHandle
}

extension InferenceEngine {
    /// Embeds the query (if text), searches, and optionally reranks.
    public func search(_ request: SearchRequest) async throws -> SearchResult {
        // One pair for the whole search: the query is embedded (and
        // reranked) by the model whose vectors the collection holds.
        let pair = models.current
        let collection = try pair.collection(request.collection)
        let topK = request.topK
        guard (1...10_000).contains(topK) else { throw EngineError.invalidInput(field: "top_k", reason: "must be in 1…10000") }
        let filter: Filter?
        if let f = request.filter, f != .null {
            do { filter = try Filter(json: f, path: "filter") } catch { throw EngineError.index(.invalidFilter(error)) }
        } else {
            filter = nil
        }
        let handle = pair.handle
        if collection.modelVersion != handle.version && collection.count > 0 {
            throw EngineError.modelVersionMismatch(collection: collection.name, collectionVersion: collection.modelVersion,
                                                   activeVersion: handle.version)
        }
        let queryVector: [Float]
        switch (request.query, request.vector) {
        case let (q?, nil):
            queryVector = try await embed([q], field: "query", handle: handle).vectors.row(0)
        case let (nil, v?):
            queryVector = v
        case (nil, nil):
            throw EngineError.invalidInput(field: "query", reason: "give either \"query\" (text) or \"vector\" (numbers)")
        default:
            throw EngineError.invalidInput(field: "vector", reason: "give either \"query\" or \"vector\", not both")
        }
        let rerank = request.rerank
        let candidates = rerank ? max(topK, min(request.rerankCandidates ?? max(4 * topK, 50), 1000)) : topK
        var hits = try indexCall {
            try collection.search(vector: queryVector, topK: candidates, filter: filter,
                                  scoreThreshold: rerank ? nil : request.scoreThreshold,
                                  efSearch: request.efSearch, exact: request.exact)
        }
        if rerank && !hits.isEmpty {
            guard let query = request.query else {
                throw EngineError.invalidInput(field: "rerank", reason: "needs a text \"query\" to re-score against")
            }
            let scores = try await rerankScores(query: query, documents: hits.map(\.document.text), field: "rerank",
                                                raw: false, truncate: true, handle: handle).scores
            for i in hits.indices { hits[i].score = scores[i] }
            hits.sort { $0.score > $1.score }
            if let t = request.scoreThreshold { hits = hits.filter { $0.score >= t } }
            hits = Array(hits.prefix(topK))
        }
        return SearchResult(hits: hits, collectionModelVersion: collection.modelVersion, reranked: rerank, handle: handle)
    }
}
