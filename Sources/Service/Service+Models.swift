import Engine
import Foundation
import HTTP
import Index
import Storage

// MARK: - Model versions and the hot-swap
//
// GET    /models                       versions, the active one, the last activation
// POST   /models/{version}/activate    202 + the activation's status (200 when
//                                      nothing is to do); the swap runs in the
//                                      background; 409 while another runs
// GET    /models/activation            the running activation, else the last one
// DELETE /models/{version}             409 for the active or bundled version
//
// All need the admin key when one is set (see `isAdminRoute`, `authorize`).

extension RanksmithService {
    struct ActivationOut: Encodable {
        struct Count: Encodable { var total: Int; var done: Int }
        struct Memory: Encodable { var estimated_peak_bytes: Int; var limit_bytes: Int? }
        var id: Int
        var version: String
        var from: String
        var state: String
        var stage: String
        var progress: Double
        var collections: Count
        var documents: Count
        var started_at: String
        var finished_at: String?
        var error: String?
        var memory: Memory

        init(_ s: ActivationStatus) {
            let dates = ISO8601DateFormatter()
            id = s.id; version = s.version; from = s.from
            state = s.state.rawValue; stage = s.stage.rawValue
            progress = (s.progress * 1000).rounded() / 1000
            collections = Count(total: s.collectionsTotal, done: s.collectionsDone)
            documents = Count(total: s.documentsTotal, done: s.documentsDone)
            started_at = dates.string(from: s.startedAt)
            finished_at = s.finishedAt.map(dates.string(from:))
            error = s.error
            memory = Memory(estimated_peak_bytes: s.estimatedPeakBytes, limit_bytes: s.memoryLimitBytes)
        }
    }

    struct VersionOut: Encodable {
        var version: String
        var active: Bool
        var bundled: Bool
        var manifest: JSONValue?
        var problem: String?
    }

    struct ModelsOut: Encodable {
        var active: String
        var versions: [VersionOut]
        var activation: ActivationOut?
    }

    func listModels(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard let versions = engine.versions else { throw APIError.notReady("model versions are not available") }
        let active = models.active.version
        let list = versions.list().map {
            VersionOut(version: $0.version, active: $0.version == active, bundled: $0.isBase, manifest: $0.manifest, problem: $0.problem)
        }
        let out = ModelsOut(active: active, versions: list, activation: engine.activationStatus.map(ActivationOut.init))
        return .json(JSONWriter.encode(out))
    }

    func activateModel(_ request: HTTPRequest) async throws -> HTTPResponse {
        let version = request.pathParameters["version"] ?? ""
        let status = try engine.startActivation(version: version)
        var response = HTTPResponse.json(JSONWriter.encode(ActivationOut(status)), status: status.state == .running ? 202 : 200)
        response.headers.add(name: "Location", value: "/models/activation")
        return response
    }

    func activationStatus(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard let status = engine.activationStatus else {
            throw APIError(status: 404, code: "no_activation", message: "no activation has run since the server started; start one with POST /models/{version}/activate")
        }
        return .json(JSONWriter.encode(ActivationOut(status)))
    }

    func deleteModel(_ request: HTTPRequest) async throws -> HTTPResponse {
        struct Out: Encodable { var deleted: String }
        let version = request.pathParameters["version"] ?? ""
        try engine.deleteVersion(version)
        return .json(JSONWriter.encode(Out(deleted: version)))
    }
}
