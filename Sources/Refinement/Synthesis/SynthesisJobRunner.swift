import Encoder
import Foundation
import Generator
import Jobs
import Storage
import Synchronization

// MARK: - Synthesis as a background job

/// Counters of every synthesis job in this process, read by `/metrics`.
public final class SynthesisMetrics: Sendable {
    private let counts = Mutex((lists: 0, dropped: 0, tokens: 0, seconds: 0.0, lastRate: 0.0,
                                saved: 0, savedRate: 0.0))

    public init() {}

    /// Lists written, chains dropped, tokens generated, seconds in the generator,
    /// the generated tokens/s of the latest progress report, prompt tokens
    /// saved by prefix reuse, and the saved tokens per second of run time
    /// of the latest job that reported.
    public var snapshot: (lists: Int, dropped: Int, tokens: Int, seconds: Double, lastRate: Double,
                          saved: Int, savedRate: Double) {
        counts.withLock { $0 }
    }

    func add(lists: Int, dropped: Int, tokens: Int, seconds: Double, saved: Int = 0, savedRate: Double? = nil) {
        counts.withLock {
            $0.lists += lists; $0.dropped += dropped; $0.tokens += tokens; $0.seconds += seconds
            if seconds > 0 { $0.lastRate = Double(tokens) / seconds }
            $0.saved += saved
            if let savedRate { $0.savedRate = savedRate }
        }
    }
}

/// Runs `synthesize` jobs: parameters are the flat request fields
/// (`sentences` | `file`, the settings, `generator`); outputs go to the
/// job's folder as `lists.jsonl` and `rejected.jsonl`, which are also its
/// checkpoint: a resumed job skips every anchor already in either file.
public struct SynthesisJobRunner: JobRunner {
    public let kind = "synthesize"
    public let resumable = true
    /// Root that `file` paths are resolved against and must stay under.
    public let dataDirectory: String
    /// GGUF file used when a job names no generator.
    public let defaultGenerator: String
    /// Threads of the generator's products (1 keeps a core free for serving).
    public let threads: Int
    /// Where counters go.
    public let metrics: SynthesisMetrics
    /// Bytes one job may allocate (`--job-memory`; see `JobMemory`).
    public let memoryBudget: Int
    /// The teacher encoder the lists are checked with (`TeacherFilter`): the
    /// active version on a server; nil leaves the lists unchecked (noted).
    public let teacher: @Sendable () -> BertModel?

    /// A runner for a server with `dataDirectory` and `defaultGenerator`.
    public init(dataDirectory: String, defaultGenerator: String, threads: Int = 1, metrics: SynthesisMetrics = SynthesisMetrics(),
                memoryBudget: Int = Int.max, teacher: @escaping @Sendable () -> BertModel? = { nil }) {
        self.dataDirectory = dataDirectory
        self.defaultGenerator = defaultGenerator
        self.threads = threads
        self.metrics = metrics
        self.memoryBudget = memoryBudget
        self.teacher = teacher
    }

    /// Name of the lists file in a job's folder.
    public static let listsFile = "lists.jsonl"
    /// Name of the dropped-chains file in a job's folder.
    public static let rejectedFile = "rejected.jsonl"
    /// The lists the teacher filter kept (whole or cut), what training reads.
    public static let filteredFile = "filtered.jsonl"
    /// The lists the teacher filter dropped, each with its reason.
    public static let filteredOutFile = "filtered-out.jsonl"

    /// The lists to train on in a synthesis (or refine) job's folder: the
    /// teacher filter's output when it ran, else every kept list.
    public static func trainingLists(in folder: URL) -> URL {
        let filtered = folder.appendingPathComponent(filteredFile)
        return FileManager.default.fileExists(atPath: filtered.path) ? filtered : folder.appendingPathComponent(listsFile)
    }

    public func validate(_ p: [String: JSONValue]) throws -> [String: JSONValue] {
        var out = p
        let inputs = ["sentences", "file"].filter { p[$0] != nil && p[$0] != .null }
        guard inputs.count == 1 else {
            throw JobError.invalid(field: "sentences", message: "give exactly one input: sentences (an array), collection with sample, or file")
        }
        var anchors: [String] = []
        if let s = p["sentences"], s != .null {
            guard let list = s.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw JobError.invalid(field: "sentences", message: "sentences must be an array of strings")
            }
            anchors = SynthesisRun.distinctAnchors(list.compactMap(\.stringValue))
            guard !anchors.isEmpty else { throw JobError.invalid(field: "sentences", message: "sentences is empty: give at least one non-empty sentence") }
            guard anchors.count <= Self.maxAnchors else { throw JobError.invalid(field: "sentences", message: "sentences: at most \(Self.maxAnchors) per job") }
        }
        if let f = p["file"], f != .null {
            guard let path = f.stringValue else { throw JobError.invalid(field: "file", message: "file must be a path (string) under the data directory") }
            let resolved = try resolveFile(path)
            do { anchors = SynthesisRun.distinctAnchors(try AnchorSource.read(path: resolved)) } catch let e as SynthesisError {
                throw JobError.invalid(field: "file", message: e.description.replacingOccurrences(of: resolved, with: path))
            }
            guard anchors.count <= Self.maxAnchors else { throw JobError.invalid(field: "file", message: "file: at most \(Self.maxAnchors) sentences per job") }
        }
        // Settings: decoded with the same names and defaults as the CLI, then range-checked.
        let settings: SynthesisSettings
        do {
            settings = try Self.settings(p)
        } catch {
            let field = (error as? DecodingError).flatMap(Self.field) ?? "rounds"
            throw JobError.invalid(field: field, message: "\(field) has the wrong type")
        }
        do { try settings.validate() } catch let SynthesisError.invalidSetting(field, message) {
            throw JobError.invalid(field: field, message: message)
        }
        for (k, v) in try JSONDecoder().decode([String: JSONValue].self, from: JSONEncoder().encode(settings)) { out[k] = v }
        do {
            var filter = try TeacherFilterSettings.parse(p)
            // A cut list keeps at least the job's min_list_length sentences unless the request says otherwise.
            if p["filter_min_list_length"] == nil || p["filter_min_list_length"] == .null {
                filter.minListLength = max(RankingLists.minimumLength, settings.minListLength)
            }
            for (k, v) in try JSONDecoder().decode([String: JSONValue].self, from: JSONEncoder().encode(filter)) { out[k] = v }
        } catch let SynthesisError.invalidSetting(field, message) {
            throw JobError.invalid(field: field, message: message)
        }
        // Generator: a GGUF path (checked now) or an OpenAI-compatible base URL.
        if let g = p["generator"], g != .null, g.stringValue == nil {
            throw JobError.invalid(field: "generator", message: "generator must be a GGUF path or an http(s) URL")
        }
        let generator = p["generator"]?.stringValue ?? defaultGenerator
        if RewriteBackends.isRemote(generator) {
            guard URL(string: generator)?.host != nil else {
                throw JobError.invalid(field: "generator", message: "generator \(generator) is not a URL; give http(s)://host[:port]/v1")
            }
        } else {
            try checkMemory(generator: generator, settings: settings, anchors: anchors, field: "generator")
        }
        // The server's default generator is not stored: the record names no host path.
        if p["generator"] == nil || p["generator"] == .null { out["generator"] = nil }
        return out
    }

    /// Most distinct sentences one job synthesises from.
    public static let maxAnchors = 100_000

    /// Checks that local generator `generator` is a GGUF model file (a
    /// regular file, never opened otherwise) and that a synthesis with
    /// `settings` fits `memoryBudget`; every refusal is a `JobError.invalid`.
    /// A missing file and a refused one get the same message.
    func checkMemory(generator: String, settings: SynthesisSettings, anchors: [String], field: String) throws {
        let config: LlamaConfig
        do {
            guard LocalFile.isRegular(generator) else { throw SynthesisError.generator("") }
            config = try LlamaConfig(file: GGUFFile(path: generator))
        } catch {
            throw JobError.invalid(field: field, message: LocalFile.generatorRefusal(shown(generator)))
        }
        try JobMemory.checkSynthesis(config: config, settings: settings, anchors: anchors, budget: memoryBudget)
    }

    /// A generator path as a message shows it: the server's default by its file name.
    func shown(_ generator: String) -> String {
        generator == defaultGenerator ? (generator as NSString).lastPathComponent : generator
    }

    /// The settings among the flat fields `p`, with the CLI's names and defaults.
    static func settings(_ p: [String: JSONValue]) throws -> SynthesisSettings {
        let fields = p.filter { $0.value != .null && SynthesisSettings.CodingKeys(stringValue: $0.key) != nil }
        return try JSONDecoder().decode(SynthesisSettings.self, from: JSONEncoder().encode(JSONValue.object(fields)))
    }

    static func field(_ e: DecodingError) -> String? {
        switch e {
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c): return c.codingPath.last?.stringValue
        case let .keyNotFound(k, _): return k.stringValue
        @unknown default: return nil
        }
    }

    /// `path` made absolute under the data directory; throws when it
    /// leaves it, or names a FIFO, socket or device (opening one could
    /// block the server).
    func resolveFile(_ path: String) throws -> String {
        let root = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        let full = (path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: root).appendingPathComponent(path))
            .standardizedFileURL.path
        guard full.hasPrefix(root + "/") else {
            throw JobError.invalid(field: "file", message: "file must be a path relative to the data directory (and inside it); got \(path)")
        }
        guard !LocalFile.isSpecial(full) else {
            throw JobError.invalid(field: "file", message: "file must be a regular file under the data directory; \(path) is a FIFO, socket or device")
        }
        return full
    }

    public func run(_ context: JobContext) throws -> JSONValue? {
        try run(context, publishing: true)
    }

    /// Runs the job; with `publishing`, the running counts (the result's
    /// fields so far) are shown as the record's `result` after each chain.
    /// A refine job, which publishes its own report, runs it without.
    func run(_ context: JobContext, publishing: Bool) throws -> JSONValue? {
        let p = context.parameters
        let settings = try Self.settings(p)
        let anchors: [String]
        if let file = p["file"]?.stringValue {
            anchors = try AnchorSource.read(path: try resolveFile(file))
        } else {
            anchors = (p["sentences"]?.arrayValue ?? []).compactMap(\.stringValue)
        }
        // Checked again before anything is allocated: a job stored under
        // other limits (or before the file changed) fails with the reason.
        let generator = p["generator"]?.stringValue ?? defaultGenerator
        if !RewriteBackends.isRemote(generator) {
            try checkMemory(generator: generator, settings: settings, anchors: SynthesisRun.distinctAnchors(anchors), field: "generator")
        }
        let backend = try RewriteBackends.make(
            generator: p["generator"]?.stringValue ?? defaultGenerator, remoteModel: p["generator_model"]?.stringValue ?? "default",
            settings: settings, anchors: anchors, threads: threads)
        for note in backend.notes { context.note(note) }
        let lists = try ListsFile(path: context.directory.appendingPathComponent(Self.listsFile).path)
        let rejected = try ListsFile(path: context.directory.appendingPathComponent(Self.rejectedFile).path)
        var reported = (lists: 0, dropped: 0, tokens: 0, seconds: 0.0, saved: 0)
        let summary = try SynthesisRun.run(
            anchors: anchors, backend: backend, settings: settings, lists: lists, rejected: rejected,
            cancelled: { context.isCancelled }
        ) { done, total, s in
            let w = backend.work
            metrics.add(lists: s.kept - reported.lists, dropped: s.dropped - reported.dropped,
                        tokens: w.generatedTokens - reported.tokens, seconds: w.seconds - reported.seconds,
                        saved: s.reusedPrefixTokens - reported.saved, savedRate: s.seconds > 0 ? s.promptTokensSavedPerSecond : nil)
            reported = (s.kept, s.dropped, w.generatedTokens, w.seconds, s.reusedPrefixTokens)
            context.report(done: done, total: total)
            if publishing, let running = try? JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(s)) {
                context.publish(running)
            }
        }
        // The gauge ends on the figure the result reports (the last chain's
        // report came a moment before the run's end).
        if summary.seconds > 0 {
            metrics.add(lists: 0, dropped: 0, tokens: 0, seconds: 0, savedRate: summary.promptTokensSavedPerSecond)
        }
        if context.isCancelled { throw JobError.cancelled }
        var result = try JSONDecoder().decode([String: JSONValue].self, from: JSONEncoder().encode(summary))
        result["lists_in_file"] = .number(Double(lists.lines))
        // The teacher's check of every kept list (all of the file, resumed runs included).
        let filter = try TeacherFilterSettings.parse(p)
        if filter.enabled, lists.lines > 0 {
            if let model = teacher() {
                let report = try TeacherFilter(settings: filter).filterFile(
                    input: context.directory.appendingPathComponent(Self.listsFile).path,
                    output: context.directory.appendingPathComponent(Self.filteredFile).path,
                    dropped: context.directory.appendingPathComponent(Self.filteredOutFile).path,
                    teacher: model, threads: threads)
                context.note(report.summaryLine)
                result["teacher_filter"] = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(report))
                result["lists_to_train"] = .number(Double(report.listsOut))
            } else {
                context.note("teacher filter skipped: no teacher encoder is available to this job")
            }
        }
        if result["lists_to_train"] == nil { result["lists_to_train"] = .number(Double(lists.lines)) }
        return .object(result)
    }
}
