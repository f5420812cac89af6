import Encoder
import Foundation

/// The bundled model (`make models`), loaded once for the engine tests.
enum EngineFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelPath = root.appendingPathComponent("models/all-MiniLM-L6-v2").path
    static let model: BertModel? = try? BertModel(directory: URL(fileURLWithPath: modelPath))
}
