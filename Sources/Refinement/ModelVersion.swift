import COpenSSL
import Encoder
import Foundation
import Storage

// MARK: - Model versions on disk
//
// A version is a sentence-transformers folder — config.json, the tokenizer
// files, model.safetensors, modules.json, sentence_bert_config.json,
// 1_Pooling/config.json — so Ranksmith and sentence-transformers both load
// it unchanged, plus manifest.json saying where it came from:
//
//   {"version", "parent", "created", "dataset": {"file"|"job", "lists", "sha256"},
//    "hyper_parameters": {...}, "curve": [{"step", "loss", "learning_rate",
//    "gradient_norm", "dev_spearman"?}], "evaluation": {"dev": FILE,
//    "before", "after", "best_step"}, "steps", "seconds", "training_job"?}
//
// Versions are immutable: Storage's `AtomicDirectory.publish` writes the
// folder under a staging name beside its destination, fsyncs every file
// and folder, renames it and fsyncs the parent. A crash leaves either no
// version or a whole one (plus, at worst, a staging folder that
// `AtomicDirectory.removeLeftovers` deletes).

/// Where a version's training data came from.
public struct DatasetInfo: Sendable, Codable, Equatable {
    /// The lists file, when trained from a file.
    public var file: String?
    /// The synthesis job, when trained from a job's output.
    public var job: String?
    public var lists: Int
    /// SHA-256 of the lists file's bytes, hex.
    public var sha256: String
    /// The generators that wrote the lists (each list's `generator`, distinct,
    /// in order of first appearance); absent when no list names one.
    public var generators: [String]?

    public init(file: String? = nil, job: String? = nil, lists: Int, sha256: String, generators: [String]? = nil) {
        self.file = file
        self.job = job
        self.lists = lists
        self.sha256 = sha256
        self.generators = generators
    }

    /// `DatasetInfo` of a lists file's bytes: its hash and the generators its lines name.
    public init(file: String? = nil, job: String? = nil, lists: Int, bytes: Data) {
        let names = Self.generators(in: bytes)
        self.init(file: file, job: job, lists: lists, sha256: Self.sha256(bytes), generators: names.isEmpty ? nil : names)
    }

    /// The distinct `generator` fields of a JSONL lists file, in order of first appearance.
    public static func generators(in data: Data) -> [String] {
        var seen: [String] = []
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let name = object["generator"] as? String, !seen.contains(name) else { continue }
            seen.append(name)
        }
        return seen
    }

    /// SHA-256 of a lists file's bytes, lowercase hex (the `sha256` field).
    public static func sha256(_ data: Data) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBytes { raw in _ = SHA256(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &digest) }
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// Evaluation figures of a version.
public struct EvaluationInfo: Sendable, Codable, Equatable {
    /// The development set (pairs JSONL).
    public var dev: String?
    /// Spearman × 100 before training and of the kept weights.
    public var before: Double?, after: Double?
    public var bestStep: Int

    enum CodingKeys: String, CodingKey { case dev, before, after, bestStep = "best_step" }
}

/// `manifest.json` of a model version.
public struct ModelManifest: Sendable, Codable, Equatable {
    public var version: String
    /// The version (or folder) it was trained from.
    public var parent: String
    public var teacher: String
    public var created: String
    public var dataset: DatasetInfo
    public var hyperParameters: TrainingOptions
    public var curve: [TrainingCurvePoint]
    public var evaluation: EvaluationInfo
    public var steps: Int
    public var seconds: Double
    /// The `train` job that wrote the version (absent for the CLI and
    /// refine jobs); a resumed train job recognises its own version by it.
    public var trainingJob: String?

    enum CodingKeys: String, CodingKey {
        case version, parent, teacher, created, dataset, curve, evaluation, steps, seconds
        case hyperParameters = "hyper_parameters", trainingJob = "training_job"
    }

    public init(version: String, parent: String, teacher: String, dataset: DatasetInfo, options: TrainingOptions,
                result: TrainingResult, dev: String?, trainingJob: String? = nil) {
        self.version = version
        self.parent = parent
        self.teacher = teacher
        created = ISO8601DateFormatter().string(from: Date())
        self.dataset = dataset
        hyperParameters = options
        curve = result.curve
        evaluation = EvaluationInfo(dev: dev, before: result.devBefore, after: result.devAfter, bestStep: result.bestStep)
        steps = result.steps
        seconds = (result.seconds * 100).rounded() / 100
        self.trainingJob = trainingJob
    }
}

/// Writes model versions.
public enum ModelVersionWriter {
    /// Files copied from the parent folder when present (tokenizer and
    /// sentence-transformers settings are unchanged by training).
    static let copied = ["config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                         "sentence_bert_config.json", "modules.json", "config_sentence_transformers.json", "1_Pooling/config.json"]

    /// Publishes a version at `destination` (which must not exist): the
    /// parent's configuration and tokenizer, `weights`, and `manifest`.
    /// Written into a staging folder, fsync'd and renamed by
    /// `AtomicDirectory.publish`, so a crash leaves no half version.
    public static func write(weights: BertWeights, base: BertModel, manifest: ModelManifest, to destination: URL) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: destination.path) { throw TrainingError.versionExists(path: destination.path) }
        let parent = destination.deletingLastPathComponent()
        do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw TrainingError.io(path: parent.path, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        do {
            try AtomicDirectory.publish(destination.lastPathComponent, in: parent.path) { staging in
                let folder = URL(fileURLWithPath: staging)
                try fm.createDirectory(at: folder.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
                for name in copied {
                    guard let data = fm.contents(atPath: base.directory.appendingPathComponent(name).path) else { continue }
                    try data.write(to: folder.appendingPathComponent(name))
                }
                try writeDefaults(into: folder, base: base)
                try SafeTensorsFile.write(tensors(weights, base: base), to: folder.appendingPathComponent("model.safetensors"))
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try encoder.encode(manifest).write(to: folder.appendingPathComponent("manifest.json"))
            }
        } catch StorageError.alreadyExists {
            throw TrainingError.versionExists(path: destination.path)
        } catch let error as TrainingError {
            throw error
        } catch let error as StorageError {
            throw TrainingError.io(path: destination.path, reason: error.message)
        } catch {
            throw TrainingError.io(path: destination.path, reason: "writing the version failed: \(error)")
        }
    }

    /// The trained tensors, plus any floating-point tensor of the parent's
    /// file that training does not touch (BERT's pooler, which mean-pooled
    /// models carry but never use), so that loaders find every tensor they
    /// expect.
    static func tensors(_ weights: BertWeights, base: BertModel) throws -> [(name: String, shape: [Int], values: [Float])] {
        var out = weights.namedTensors(config: base.config)
        let names = Set(out.map(\.name))
        let file = try SafeTensorsFile(url: base.directory.appendingPathComponent("model.safetensors"))
        for (name, entry) in file.entries.sorted(by: { $0.key < $1.key })
        where !names.contains(name) && [.f32, .f16, .bf16].contains(entry.dtype) {
            out.append((name, entry.shape, try file.floats(name, shape: entry.shape)))
        }
        return out
    }

    /// The sentence-transformers files a parent folder may lack.
    static func writeDefaults(into dir: URL, base: BertModel) throws {
        let fm = FileManager.default
        func put(_ name: String, _ object: Any) throws {
            let url = dir.appendingPathComponent(name)
            guard !fm.fileExists(atPath: url.path) else { return }
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: url)
        }
        try put("1_Pooling/config.json", [
            "word_embedding_dimension": base.dimensions, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true,
            "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false,
        ])
        try put("sentence_bert_config.json", ["max_seq_length": base.maxSequenceLength, "do_lower_case": false])
        try put("modules.json", [
            ["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
            ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"],
            ["idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"],
        ])
    }
}
