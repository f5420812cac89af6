import Encoder
import Foundation
import HTTP
import Index
import Numerics

// MARK: - Collections, documents and search

extension RanksmithService {
    /// The collection store, or 503 when the data directory failed to open.
    func collectionStore() throws -> CollectionStore {
        guard let store = collections else {
            throw APIError.notReady("the index could not be opened at start-up: \(collectionsError ?? "unknown error"); check the data directory and restart")
        }
        return store
    }

    /// The collection `name`, or 404 (503 when the index is not open).
    func collection(named name: String) throws -> Collection {
        let store = try collectionStore()
        return try indexCall { try store.collection(name) }
    }

    /// The 404 for a document id the collection does not hold.
    static func unknownDocument(_ id: String) -> APIError {
        APIError(status: 404, code: "unknown_document", message: "no document with id '\(id)' in this collection")
    }

    /// Turns an Index error into the API's status and message.
    static func apiError(_ error: IndexError) -> APIError {
        switch error {
        case .unknownCollection:
            return APIError(status: 404, code: "unknown_collection", message: error.message + "; create it with PUT /collections/{name}")
        case .collectionExists:
            return APIError(status: 409, code: "collection_exists", message: error.message)
        case .invalidName, .wrongDimensions, .invalidVector, .duplicateIds, .invalidId, .invalidMetadata,
             .invalidParameter, .invalidSettings:
            return APIError(status: 422, code: "invalid_field", message: error.message)
        case .invalidFilter(let f):
            return APIError(status: 422, code: "invalid_filter", message: "\(f.field): \(f.reason)")
        case .diskFull:
            return APIError(status: 507, code: "insufficient_storage", message: error.message)
        case .ioFailed, .unavailable:
            return APIError(status: 503, code: "storage_unavailable", message: error.message, headers: [("Retry-After", "5")])
        case .corruptSnapshot, .corruptLog:
            return APIError(status: 500, code: "corrupt_index", message: error.message)
        }
    }

    /// Runs `body`, mapping Index errors to API errors.
    func indexCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as IndexError { throw Self.apiError(e) }
    }

    // MARK: Collections

    struct CollectionBody: Decodable {
        struct HNSW: Decodable { var m: Int?; var ef_construction: Int?; var ef_search: Int? }
        /// "flat", "hnsw" or "auto" (default: flat until hnsw_threshold documents).
        var index: String?
        var hnsw_threshold: Int?
        var hnsw: HNSW?
    }

    struct CollectionOut: Encodable {
        struct HNSW: Encodable { var m: Int; var ef_construction: Int; var ef_search: Int }
        var name: String
        var dimensions: Int
        var metric: String
        var count: Int
        var index: String
        var index_setting: String
        var hnsw_threshold: Int
        var hnsw: HNSW
        var model_version: String

        init(_ i: CollectionInfo) {
            name = i.name; dimensions = i.dimensions; metric = i.metric; count = i.count
            index = i.indexKind.rawValue
            index_setting = i.settings.indexKind?.rawValue ?? "auto"
            hnsw_threshold = i.settings.hnswThreshold
            hnsw = HNSW(m: i.settings.hnsw.m, ef_construction: i.settings.hnsw.efConstruction, ef_search: i.settings.hnsw.efSearch)
            model_version = i.modelVersion
        }
    }

    func createCollection(_ request: HTTPRequest) async throws -> HTTPResponse {
        let name = request.pathParameters["name"] ?? ""
        var settings = CollectionSettings()
        if !request.body.isEmpty {
            let body = try decodeBody(CollectionBody.self, from: request)
            switch body.index ?? "auto" {
            case "auto": settings.indexKind = nil
            case "flat": settings.indexKind = .flat
            case "hnsw": settings.indexKind = .hnsw
            default: throw APIError.invalidField("index", "must be \"flat\", \"hnsw\" or \"auto\"")
            }
            if let t = body.hnsw_threshold { settings.hnswThreshold = t }
            if let m = body.hnsw?.m { settings.hnsw.m = m }
            if let e = body.hnsw?.ef_construction { settings.hnsw.efConstruction = e }
            if let e = body.hnsw?.ef_search { settings.hnsw.efSearch = e }
        }
        let handle = models.active
        let store = try collectionStore()
        // The new collection's own info: a concurrent DELETE cannot turn this PUT into a 404.
        let info = try indexCall {
            try store.create(name: name, dimensions: handle.model.dimensions, modelVersion: handle.version, settings: settings).info
        }
        return .json(JSONWriter.encode(CollectionOut(info)), status: 201)
    }

    func listCollections(_ request: HTTPRequest) async throws -> HTTPResponse {
        struct Out: Encodable { var collections: [CollectionOut] }
        let list = try collectionStore().list().sorted { $0.name < $1.name }
        return .json(JSONWriter.encode(Out(collections: list.map(CollectionOut.init))))
    }

    func describeCollection(_ request: HTTPRequest) async throws -> HTTPResponse {
        let store = try collectionStore()
        let info = try indexCall { try store.info(name: request.pathParameters["name"] ?? "") }
        return .json(JSONWriter.encode(CollectionOut(info)))
    }

    func deleteCollection(_ request: HTTPRequest) async throws -> HTTPResponse {
        struct Out: Encodable { var deleted: String }
        let name = request.pathParameters["name"] ?? ""
        let store = try collectionStore()
        try indexCall { try store.drop(name: name) }
        return .json(JSONWriter.encode(Out(deleted: name)))
    }

    // MARK: Documents

    struct DocumentIn: Decodable {
        var id: String
        var text: String
        var metadata: JSONValue?
    }

    struct UpsertBody: Decodable { var documents: [DocumentIn] }

    struct DocumentOut: Encodable {
        var id: String
        var text: String
        var metadata: [String: JSONValue]
        var vector: [Float]?
    }

    /// Upserts documents: validated, embedded through the batcher, written
    /// durably (fsync'd) before the 200 is sent.
    func upsertDocuments(_ request: HTTPRequest) async throws -> HTTPResponse {
        struct Out: Encodable { var upserted: Int; var model_version: String }
        let name = request.pathParameters["name"] ?? ""
        let collection = try self.collection(named: name)
        let body = try decodeBody(UpsertBody.self, from: request)
        guard !body.documents.isEmpty else { throw APIError.invalidField("documents", "must not be empty") }
        guard body.documents.count <= configuration.maxInputsPerRequest else {
            throw APIError.invalidField("documents", "has \(body.documents.count) documents; at most \(configuration.maxInputsPerRequest) per request")
        }
        // Cheap checks first, so a bad batch costs no inference.
        var seen = Set<String>()
        var documents: [Document] = []
        for (i, d) in body.documents.enumerated() {
            if d.text.isEmpty { throw APIError.invalidField("documents[\(i)].text", "must not be empty") }
            if !seen.insert(d.id).inserted {
                throw APIError.invalidField("documents[\(i)].id", "'\(d.id)' appears more than once in this batch")
            }
            documents.append(try indexCall {
                try Document(id: d.id, text: d.text, metadataJSON: d.metadata ?? .null, field: "documents[\(i)].metadata")
            })
        }
        let handle = models.active
        guard handle.version == collection.info.modelVersion || collection.info.count == 0 else {
            throw APIError(status: 409, code: "model_version_mismatch",
                           message: "collection '\(name)' holds vectors of model version \(collection.info.modelVersion), the active model is \(handle.version); wait for the re-embedding to finish")
        }
        let outcome = try await embeddings(documents.map(\.text), field: "documents", truncate: true, normalize: true,
                                           dimensions: nil, handle: handle)
        let items = documents.enumerated().map { (document: $0.element, vector: outcome.vectors.row($0.offset)) }
        try indexCall { try collection.upsert(items) }
        return respond(.json(JSONWriter.encode(Out(upserted: items.count, model_version: handle.version))), outcome)
    }

    func getDocument(_ request: HTTPRequest) async throws -> HTTPResponse {
        let collection = try self.collection(named: request.pathParameters["name"] ?? "")
        let id = request.pathParameters["id"] ?? ""
        guard let (document, vector) = collection.get(id: id) else {
            throw Self.unknownDocument(id)
        }
        let withVector = ["1", "true"].contains(request.query["with_vector"]?.lowercased() ?? "")
        return .json(JSONWriter.encode(DocumentOut(id: document.id, text: document.text, metadata: document.metadata,
                                                   vector: withVector ? vector : nil)))
    }

    func deleteDocument(_ request: HTTPRequest) async throws -> HTTPResponse {
        struct Out: Encodable { var deleted: String }
        let collection = try self.collection(named: request.pathParameters["name"] ?? "")
        let id = request.pathParameters["id"] ?? ""
        guard collection.get(id: id) != nil else {
            throw Self.unknownDocument(id)
        }
        try indexCall { try collection.delete(ids: [id]) }
        return .json(JSONWriter.encode(Out(deleted: id)))
    }
}
