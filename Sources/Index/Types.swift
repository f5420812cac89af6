import Foundation
import Storage

// MARK: - Documents and hits

/// A stored document: the text and metadata are kept beside the vector so a
/// collection can be re-embedded after a model swap.
public struct Document: Sendable, Hashable, Codable {
    /// Caller-chosen identifier, unique within a collection (1…`Limits.maxIdBytes` UTF-8 bytes).
    public var id: String
    /// The text the vector was computed from.
    public var text: String
    /// Arbitrary JSON object; filters match against its keys.
    public var metadata: [String: JSONValue]

    /// A document.
    public init(id: String, text: String, metadata: [String: JSONValue] = [:]) {
        self.id = id
        self.text = text
        self.metadata = metadata
    }
}

/// One search result.
public struct Hit: Sendable, Hashable {
    /// The matching document.
    public var document: Document
    /// Cosine similarity to the query, in [-1, 1]; higher is closer.
    public var score: Float

    /// A hit.
    public init(document: Document, score: Float) {
        self.document = document
        self.score = score
    }
}

// MARK: - Settings

/// Which search structure a collection uses.
public enum IndexKind: String, Sendable, Codable, CaseIterable {
    /// Exact search over every vector.
    case flat
    /// Hierarchical navigable small-world graph (approximate).
    case hnsw
}

/// HNSW parameters (Malkov & Yashunin): `m` links per node on upper layers
/// (2·m on the bottom layer), `efConstruction` candidates while inserting,
/// `efSearch` candidates while searching (raised to `topK` when smaller).
public struct HNSWParameters: Sendable, Hashable, Codable {
    /// Links per node on the upper layers; the bottom layer keeps 2·m.
    public var m: Int
    /// Size of the candidate list while inserting.
    public var efConstruction: Int
    /// Default size of the candidate list while searching.
    public var efSearch: Int

    /// Defaults that reach recall@10 ≥ 0.95 on sentence embeddings.
    public init(m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64) {
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
    }
}

/// How a collection indexes its vectors. Chosen at creation, stored with it.
public struct CollectionSettings: Sendable, Hashable, Codable {
    /// `nil` chooses automatically: flat until `hnswThreshold` documents, then HNSW.
    public var indexKind: IndexKind?
    /// Live document count above which an automatic collection builds HNSW.
    public var hnswThreshold: Int
    /// Graph parameters, used once the collection is HNSW.
    public var hnsw: HNSWParameters

    /// Settings; the defaults choose the index kind automatically at 20,000 documents.
    public init(indexKind: IndexKind? = nil, hnswThreshold: Int = 20_000, hnsw: HNSWParameters = HNSWParameters()) {
        self.indexKind = indexKind
        self.hnswThreshold = hnswThreshold
        self.hnsw = hnsw
    }

    /// Checks ranges; throws `IndexError.invalidSettings` naming the field.
    public func validate() throws {
        if hnsw.m < 2 || hnsw.m > 128 { throw IndexError.invalidSettings(field: "hnsw.m", reason: "must be in 2…128") }
        if hnsw.efConstruction < 1 || hnsw.efConstruction > 4096 {
            throw IndexError.invalidSettings(field: "hnsw.ef_construction", reason: "must be in 1…4096")
        }
        if hnsw.efSearch < 1 || hnsw.efSearch > 4096 {
            throw IndexError.invalidSettings(field: "hnsw.ef_search", reason: "must be in 1…4096")
        }
        if hnswThreshold < 0 { throw IndexError.invalidSettings(field: "hnsw_threshold", reason: "must be ≥ 0") }
    }
}

/// A description of a collection, as `GET /collections/{name}` shows it.
public struct CollectionInfo: Sendable, Hashable {
    /// The collection's name.
    public var name: String
    /// Vector length.
    public var dimensions: Int
    /// Always "cosine": vectors are unit-normalised on the way in.
    public var metric: String
    /// Live documents.
    public var count: Int
    /// The structure searches use now.
    public var indexKind: IndexKind
    /// The embedding model version the vectors came from.
    public var modelVersion: String
    /// The settings the collection was created with.
    public var settings: CollectionSettings
}

// MARK: - Limits

/// Input limits, checked before anything is written.
public enum Limits {
    /// Longest id, in UTF-8 bytes.
    public static let maxIdBytes = 512
    /// Longest collection name, in UTF-8 bytes; names use `[A-Za-z0-9_-]`.
    public static let maxNameBytes = 128
    /// Largest vector length a collection accepts.
    public static let maxDimensions = 65_536
    /// Largest `topK` a search accepts.
    public static let maxTopK = 10_000
}
