import Foundation
import Index
import Storage

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
    /// The collection store of the serving pair, or `indexUnavailable` when it failed to open.
    public func collectionStore() throws -> CollectionStore {
        let pair = models.current
        guard let store = pair.store else {
            throw EngineError.indexUnavailable(reason: pair.storeError ?? "unknown error")
        }
        return store
    }

    /// The collection `name` of the serving pair.
    public func collection(named name: String) throws -> Collection {
        try models.current.collection(name)
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

    // MARK: Writes
    //
    // Every write runs its synchronous part (log append, fsync) holding the
    // transition lock shared, after checking that the pair it prepared for
    // still serves; during a swap it writes the live collection and the
    // shadow together inside the shadow's lock (see ShadowBuild). A write
    // that finds the pair changed, or a swap begun, prepares again.

    /// Creates an empty collection for the serving model's vectors (and
    /// its shadow, during a swap).
    public func createCollection(name: String, settings: CollectionSettings) throws -> CollectionInfo {
        while true {
            let pair = models.current
            let store = try collectionStore(of: pair)
            let info: CollectionInfo? = try transition.shared {
                guard models.current === pair else { return nil }
                let create = {
                    // The new collection's own info: a concurrent drop cannot turn this into `unknownCollection`.
                    try indexCall {
                        try store.create(name: name, dimensions: pair.handle.model.dimensions, modelVersion: pair.handle.version,
                                         settings: settings).info
                    }
                }
                guard let shadow = currentShadow() else { return try create() }
                return try shadow.writes.locked {
                    let info = try create()
                    do {
                        try shadow.store.create(name: name, dimensions: shadow.handle.model.dimensions,
                                                modelVersion: shadow.handle.version, settings: settings)
                    } catch {
                        shadow.failure = shadow.failure ?? "creating the shadow of '\(name)' failed: \(error)"
                    }
                    return info
                }
            }
            if let info { return info }
        }
    }

    /// Deletes collection `name` and its files (and its shadow, during a swap).
    public func dropCollection(name: String) throws {
        while true {
            let pair = models.current
            let store = try collectionStore(of: pair)
            let done: Bool = try transition.shared {
                guard models.current === pair else { return false }
                guard let shadow = currentShadow() else {
                    try indexCall { try store.drop(name: name) }
                    return true
                }
                try shadow.writes.locked {
                    try indexCall { try store.drop(name: name) }
                    shadow.dropped.insert(name)
                    shadow.written[name] = nil
                    do { try shadow.store.drop(name: name) } catch IndexError.unknownCollection {} catch {
                        shadow.failure = shadow.failure ?? "dropping the shadow of '\(name)' failed: \(error)"
                    }
                }
                return true
            }
            if done { return }
        }
    }

    /// Upserts documents into collection `name`: validated, embedded
    /// through the batcher with the serving model (and, during a swap, with
    /// the new one too), written durably (fsync'd) before it returns.
    /// Answers the serving model's embeddings (their handle is the model used).
    public func upsert(_ input: [DocumentInput], into name: String) async throws -> Embeddings {
        let documents = try validatedDocuments(input)
        let texts = documents.map(\.text)
        var computed: [ObjectIdentifier: Embeddings] = [:]
        func vectors(_ handle: ModelHandle) async throws -> Embeddings {
            if let e = computed[ObjectIdentifier(handle)] { return e }
            let e = try await embed(texts, field: "documents", handle: handle)
            computed[ObjectIdentifier(handle)] = e
            return e
        }
        while true {
            let pair = models.current
            let collection = try pair.collection(name)
            let info = collection.info
            guard pair.handle.version == info.modelVersion || info.count == 0 else {
                throw EngineError.modelVersionMismatch(collection: name, collectionVersion: info.modelVersion,
                                                       activeVersion: pair.handle.version)
            }
            let outcome = try await vectors(pair.handle)
            let shadowSeen = currentShadow()
            var mirrored: Embeddings?
            if let shadowSeen { mirrored = try await vectors(shadowSeen.handle) }
            let items = Self.items(documents, outcome)
            let done: Bool = try transition.shared {
                guard models.current === pair else { return false }
                let shadow = currentShadow()
                guard let shadow else {
                    try indexCall { try collection.upsert(items) }
                    return true
                }
                guard shadow === shadowSeen, let mirrored else { return false }  // a swap began: embed for it too
                try shadow.writes.locked {
                    try indexCall { try collection.upsert(items) }
                    shadow.mirrorUpsert(name, Self.items(documents, mirrored))
                }
                return true
            }
            if done { return outcome }
        }
    }

    /// The document `id` of `collection` with its stored vector.
    public func document(_ id: String, in collection: Collection) throws -> (document: Document, vector: [Float]) {
        guard let found = collection.get(id: id) else { throw EngineError.unknownDocument(id: id) }
        return found
    }

    /// Deletes document `id` of collection `name` (and of its shadow,
    /// during a swap); `unknownDocument` if it has none.
    public func deleteDocument(_ id: String, in name: String) throws {
        while true {
            let pair = models.current
            let collection = try pair.collection(name)
            let done: Bool = try transition.shared {
                guard models.current === pair else { return false }
                guard collection.get(id: id) != nil else { throw EngineError.unknownDocument(id: id) }
                guard let shadow = currentShadow() else {
                    try indexCall { try collection.delete(ids: [id]) }
                    return true
                }
                try shadow.writes.locked {
                    try indexCall { try collection.delete(ids: [id]) }
                    shadow.mirrorDelete(name, [id])
                }
                return true
            }
            if done { return }
        }
    }

    // MARK: Helpers

    func collectionStore(of pair: ServingPair) throws -> CollectionStore {
        guard let store = pair.store else { throw EngineError.indexUnavailable(reason: pair.storeError ?? "unknown error") }
        return store
    }

    /// The shadow of the swap in progress, if any.
    func currentShadow() -> ShadowBuild? { swap.withLock { $0.shadow } }

    /// Cheap checks first, so a bad batch costs no inference.
    func validatedDocuments(_ input: [DocumentInput]) throws -> [Document] {
        let limit = configuration.maxInputsPerRequest
        guard !input.isEmpty else { throw EngineError.invalidInput(field: "documents", reason: "must not be empty") }
        guard input.count <= limit else {
            throw EngineError.invalidInput(field: "documents", reason: "has \(input.count) documents; at most \(limit) per request")
        }
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
        return documents
    }

    static func items(_ documents: [Document], _ e: Embeddings) -> [(document: Document, vector: [Float])] {
        documents.enumerated().map { (document: $0.element, vector: e.vectors.row($0.offset)) }
    }
}
