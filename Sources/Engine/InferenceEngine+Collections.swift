import Foundation
import Index

// MARK: - Collections and documents

/// A document to upsert, as a caller sends it.
public struct DocumentInput: Sendable {
    /// The document's id, unique within the collection.
    public var id: String
    /// The text that is embedded and returned with hits.
    public var text: String
    /// A JSON object (or null) stored with the document, for filters.
    public var metadata: JSONValue?

    /// A document.
    public init(id: String, text: String, metadata: JSONValue? = nil) {
        self.id = id
        self.text = text
        self.metadata = metadata
    }
}

extension InferenceEngine {
    /// The collection store, or `indexUnavailable` when it failed to open.
    public func collectionStore() throws -> CollectionStore {
        guard let store = collections else {
            throw EngineError.indexUnavailable(reason: collectionsError ?? "unknown error")
        }
        return store
    }

    /// The collection `name`.
    public func collection(named name: String) throws -> Collection {
        let store = try collectionStore()
        return try indexCall { try store.collection(name) }
    }

    /// Creates an empty collection for the active model's vectors.
    public func createCollection(name: String, settings: CollectionSettings) throws -> CollectionInfo {
        let handle = models.active
        let store = try collectionStore()
        // The new collection's own info: a concurrent drop cannot turn this into `unknownCollection`.
        return try indexCall {
            try store.create(name: name, dimensions: handle.model.dimensions, modelVersion: handle.version, settings: settings).info
        }
    }

    /// Every collection, sorted by name.
    public func listCollections() throws -> [CollectionInfo] {
        try collectionStore().list().sorted { $0.name < $1.name }
    }

    /// The description of collection `name`.
    public func describeCollection(name: String) throws -> CollectionInfo {
        let store = try collectionStore()
        return try indexCall { try store.info(name: name) }
    }

    /// Deletes collection `name` and its files.
    public func dropCollection(name: String) throws {
        let store = try collectionStore()
        try indexCall { try store.drop(name: name) }
    }

    /// Upserts documents into `collection`: validated, embedded through the
    /// batcher with the active model, written durably (fsync'd) before it
    /// returns. Answers the embeddings (their handle is the model used).
    public func upsert(_ input: [DocumentInput], into collection: Collection) async throws -> Embeddings {
        let limit = configuration.maxInputsPerRequest
        guard !input.isEmpty else { throw EngineError.invalidInput(field: "documents", reason: "must not be empty") }
        guard input.count <= limit else {
            throw EngineError.invalidInput(field: "documents", reason: "has \(input.count) documents; at most \(limit) per request")
        }
        // Cheap checks first, so a bad batch costs no inference.
        var seen = Set<String>()
        var documents: [Document] = []
        for (i, d) in input.enumerated() {
            if d.text.isEmpty { throw EngineError.invalidInput(field: "documents[\(i)].text", reason: "must not be empty") }
            if !seen.insert(d.id).inserted {
                throw EngineError.invalidInput(field: "documents[\(i)].id", reason: "'\(d.id)' appears more than once in this batch")
            }
            documents.append(try indexCall {
                try Document(id: d.id, text: d.text, metadataJSON: d.metadata ?? .null, field: "documents[\(i)].metadata")
            })
        }
        let handle = models.active
        let info = collection.info
        guard handle.version == info.modelVersion || info.count == 0 else {
            throw EngineError.modelVersionMismatch(collection: collection.name, collectionVersion: info.modelVersion,
                                                   activeVersion: handle.version)
        }
        let outcome = try await embed(documents.map(\.text), field: "documents", handle: handle)
        let items = documents.enumerated().map { (document: $0.element, vector: outcome.vectors.row($0.offset)) }
        try indexCall { try collection.upsert(items) }
        return outcome
    }

    /// The document `id` of `collection` with its stored vector.
    public func document(_ id: String, in collection: Collection) throws -> (document: Document, vector: [Float]) {
        guard let found = collection.get(id: id) else { throw EngineError.unknownDocument(id: id) }
        return found
    }

    /// Deletes document `id` of `collection`; `unknownDocument` if it has none.
    public func deleteDocument(_ id: String, in collection: Collection) throws {
        guard collection.get(id: id) != nil else { throw EngineError.unknownDocument(id: id) }
        try indexCall { try collection.delete(ids: [id]) }
    }
}
