import Foundation
import Numerics

// MARK: - What a generator file is

/// A generator GGUF described for people: the name `/info`, job results and
/// version manifests give for it. Building one parses and checks the whole
/// file (architecture, every tensor's type, shape and bounds, tokenizer,
/// chat template), so a truncated or unsupported file is refused here, with
/// the reason, rather than when a job first loads it.
public struct GeneratorDescription: Codable, Sendable, Equatable {
    /// The file name, without its folder.
    public var file: String
    /// `general.name`, or the file name without `.gguf` when absent.
    public var name: String
    /// `general.architecture` (`llama`, `qwen2`).
    public var architecture: String
    /// Weight types by share of the weights, largest first (`Q4_K 62%, Q6_K 27%, …`).
    public var quantisation: String
    /// Parameters in the file's tensors.
    public var parameters: Int
    /// Layers, width and context length.
    public var layers: Int
    public var dim: Int
    public var context_length: Int
    /// Size of the file in bytes.
    public var bytes: Int

    /// Reads and checks the GGUF file at `path`; throws a `GeneratorFileError`
    /// that names the file (by its last path component) and what is wrong.
    public init(path: String) throws {
        let fileName = (path as NSString).lastPathComponent
        var st = stat()
        guard stat(path, &st) == 0 else { throw GeneratorFileError(file: fileName, reason: "not found") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw GeneratorFileError(file: fileName, reason: "not a regular file")
        }
        let gguf: GGUFFile
        let model: LlamaModel
        do {
            gguf = try GGUFFile(path: path)
            model = try LlamaModel(file: gguf)
            _ = try model.chatTemplate()
        } catch {
            throw GeneratorFileError(file: fileName, reason: "\(error)")
        }
        self.init(file: fileName, gguf: gguf, config: model.config)
    }

    init(file: String, gguf: GGUFFile, config: LlamaConfig) {
        self.file = file
        name = gguf.metadata["general.name"]?.string
            ?? (file.hasSuffix(".gguf") ? String(file.dropLast(5)) : file)
        architecture = config.architecture
        var byType: [String: Int] = [:]
        var total = 0
        for t in gguf.tensors.values {
            byType[t.type.traits.name, default: 0] += t.elementCount
            total += t.elementCount
        }
        parameters = total
        quantisation = byType.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \(Int((Double($0.value) / Double(max(1, total)) * 100).rounded()))%" }
            .joined(separator: ", ")
        layers = config.layers
        dim = config.dim
        context_length = config.contextLength
        bytes = gguf.size
    }
}

/// A generator file that cannot be used, and why.
public struct GeneratorFileError: Error, CustomStringConvertible, Equatable {
    /// The file's name (no folder: messages reach API clients).
    public let file: String
    /// What is wrong with it.
    public let reason: String
    public var description: String { "generator file \(file): \(reason)" }
}
