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
        try models.current.requireStore()
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
    // Every write prepares for the serving pair, then runs its synchronous
    // part (log append, fsync) through `write(on:…)`: holding the
    // transition lock shared, after checking that the pair still serves;
    // during a swap it writes the live collection and the shadow together
    // inside the shadow's lock (see ShadowBuild). A write that finds the
    // pair changed, or a swap begun that it did not prepare for, prepares
    // again.

    /// Creates an empty collection for the serving model's vectors (and
    /// its shadow, during a swap).
    public func createCollection(name: String, settings: CollectionSettings) throws -> CollectionInfo {
        while true {
            let pair = models.current
            let store = try pair.requireStore()
            let info = try write(on: pair) {
                // The new collection's own info: a concurrent drop cannot turn this into `unknownCollection`.
                try indexCall {
                    try store.create(name: name, dimensions: pair.handle.model.dimensions, modelVersion: pair.handle.version,
                                     settings: settings).info
                }
            } mirror: { shadow in
                shadow.mirrorCreate(name, settings: settings)
            }
            if let info { return info }
        }
    }

    /// Deletes collection `name` and its files (and its shadow, during a swap).
    public func dropCollection(name: String) throws {
        while true {
            let pair = models.current
            let store = try pair.requireStore()
            let done: Void? = try write(on: pair) {
                try indexCall { try store.drop(name: name) }
            } mirror: { shadow in
                shadow.mirrorDrop(name)
            }
            if done != nil { return }
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
            let mirroredItems = mirrored.map { Self.items(documents, $0) }
            // A swap begun since the shadow was looked at: embed for it too.
            let done: Void? = try write(on: pair, accepting: { $0 === shadowSeen }) {
                try indexCall { try collection.upsert(items) }
            } mirror: { shadow in
                if let mirroredItems { shadow.mirrorUpsert(name, mirroredItems) }
            }
            if done != nil { return outcome }
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
            let done: Void? = try write(on: pair) {
                guard collection.get(id: id) != nil else { throw EngineError.unknownDocument(id: id) }
                try indexCall { try collection.delete(ids: [id]) }
            } mirror: { shadow in
                shadow.mirrorDelete(name, [id])
            }
            if done != nil { return }
        }
    }

    // MARK: Helpers

    /// The synchronous part of a write prepared for `pair`, holding the
    /// transition lock shared: `live` alone, or during a swap `live` and
    /// then `mirror` inside the shadow's lock, so that the live collection
    /// and its shadow see the same order of changes (`mirror` records a
    /// failure in the shadow instead of throwing). Answers nil, having
    /// written nothing, when `pair` no longer serves or `accepts` refuses
    /// the swap's shadow; the caller then prepares again.
    func write<T>(
        on pair: ServingPair, accepting accepts: (ShadowBuild) -> Bool = { _ in true },
        _ live: () throws -> T, mirror: (ShadowBuild) -> Void
    ) throws -> T? {
        try transition.shared {
            guard models.current === pair else { return nil }
            guard let shadow = currentShadow() else { return try live() }
            guard accepts(shadow) else { return nil }
            return try shadow.writes.locked {
                let result = try live()
                mirror(shadow)
                return result
            }
        }
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
