import Engine
import Foundation
import HTTP
import Index
import Storage

// MARK: - Collections and documents

extension RanksmithService {
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
        let info = try engine.createCollection(name: name, settings: settings)
        return .json(JSONWriter.encode(CollectionOut(info)), status: 201)
    }

    func listCollections(_ request: HTTPRequest) async throws -> HTTPResponse {
        struct Out: Encodable { var collections: [CollectionOut] }
        let list = try engine.listCollections()
        return .json(JSONWriter.encode(Out(collections: list.map(CollectionOut.init))))
    }

    func describeCollection(_ request: HTTPRequest) async throws -> HTTPResponse {
        let info = try engine.describeCollection(name: request.pathParameters["name"] ?? "")
        return .json(JSONWriter.encode(CollectionOut(info)))
    }

    func deleteCollection(_ request: HTTPRequest) async throws -> HTTPResponse {
        struct Out: Encodable { var deleted: String }
        let name = request.pathParameters["name"] ?? ""
        try engine.dropCollection(name: name)
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

    /// Upserts documents (the engine validates, embeds and writes them
    /// durably before the 200 is sent).
    func upsertDocuments(_ request: HTTPRequest) async throws -> HTTPResponse {
        struct Out: Encodable { var upserted: Int; var model_version: String }
        let name = request.pathParameters["name"] ?? ""
        _ = try engine.collection(named: name)  // 404 before reading the body
        let body = try decodeBody(UpsertBody.self, from: request)
        let documents = body.documents.map { DocumentInput(id: $0.id, text: $0.text, metadata: $0.metadata) }
        let outcome = try await engine.upsert(documents, into: name)
        return respond(.json(JSONWriter.encode(Out(upserted: documents.count, model_version: outcome.handle.version))), outcome)
    }

    func getDocument(_ request: HTTPRequest) async throws -> HTTPResponse {
        let collection = try engine.collection(named: request.pathParameters["name"] ?? "")
        let id = request.pathParameters["id"] ?? ""
        let (document, vector) = try engine.document(id, in: collection)
        let withVector = ["1", "true"].contains(request.query["with_vector"]?.lowercased() ?? "")
        return .json(JSONWriter.encode(DocumentOut(id: document.id, text: document.text, metadata: document.metadata,
                                                   vector: withVector ? vector : nil)))
    }

    func deleteDocument(_ request: HTTPRequest) async throws -> HTTPResponse {
        struct Out: Encodable { var deleted: String }
        let id = request.pathParameters["id"] ?? ""
        try engine.deleteDocument(id, in: request.pathParameters["name"] ?? "")
        return .json(JSONWriter.encode(Out(deleted: id)))
    }
}
