import Encoder
import Foundation
import HTTP
import Service
import TestSupport
import XCTest

/// Starts a real `RanksmithService` on 127.0.0.1 with an ephemeral port.
class ServiceTestCase: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelPath = root.appendingPathComponent("models/all-MiniLM-L6-v2").path
    static let generatorPath = root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    var service: RanksmithService!
    var client: TestClient!

    /// Starts a service; `adjust` may change the configuration first.
    func startService(_ adjust: (inout ServiceConfiguration) -> Void = { _ in }) throws {
        var c = ServiceConfiguration()
        c.modelPath = Self.modelPath
        c.generatorPath = Self.generatorPath
        c.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-svc-\(UUID().uuidString)").path
        c.port = 0
        c.http.accessLog = nil
        adjust(&c)
        let service = try RanksmithService(configuration: c)
        let port = try service.start()
        self.service = service
        self.client = TestClient(requestsTo: port)
        let dataDir = c.dataDirectory
        addTeardownBlock {
            await service.shutdown()
            try? FileManager.default.removeItem(atPath: dataDir)
        }
    }

    /// The embedding the library computes directly, for comparison.
    static let referenceModel: BertModel? = try? BertModel(directory: URL(fileURLWithPath: modelPath))

    func cosine(_ a: [Float], _ b: [Float]) -> Float {
        var dot: Float = 0, na: Float = 0, nb: Float = 0
        for i in a.indices { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i] }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    func floats(_ any: Any?) -> [Float] {
        ((any as? [Any]) ?? []).compactMap { ($0 as? NSNumber)?.floatValue }
    }
}
