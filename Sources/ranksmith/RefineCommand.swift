import ArgumentParser
import Engine
import Foundation
import Jobs
import Refinement
import Service
import Storage

/// `ranksmith refine --data-dir DIR --input FILE`: the refine job of
/// `POST /jobs/refine`, run offline over a data directory (the server must
/// not be running on it): synthesise → train → evaluate → gate → activate,
/// each stage printed as it changes. Same runner, same job folder, same
/// model versions and `active.json` as the server.
struct RefineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refine",
        abstract: "Synthesise lists, post-train the active model, evaluate, gate and activate, offline over a data directory.")

    @Option(help: "Data directory (model versions, collections, jobs), as `serve --data-dir`.")
    var dataDir: String = "var"
    @Option(help: "Bundled model folder (version base), as `serve --model`.")
    var model: String = "models/all-MiniLM-L6-v2"
    @Option(help: "GGUF generator file, or an OpenAI-compatible base URL.")
    var generator: String = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "Anchor sentences: one per line, or JSONL (.jsonl) with a \"text\" field.")
    var input: String
    @Option(help: "Development pairs JSONL the gate compares on (default: the checkout's data/stsb/stsb_dev.jsonl, as `serve` finds it).")
    var dev: String?
    @Option(parsing: .singleValue, help: "Extra check, an STS pairs file under the data directory (repeatable).")
    var checkSts: [String] = []
    @Option(parsing: .singleValue, help: "Extra check, a BEIR folder under the data directory, nDCG@10 (repeatable).")
    var checkRetrieval: [String] = []
    @Option(help: "Rounds N of synthesis.") var rounds: Int?
    @Option(help: "Shortest list kept (≥ 3).") var minListLength: Int?
    @Option(help: "Most new tokens per rewrite.") var maxNewTokens: Int?
    @Option(help: "Training steps (default: one epoch).") var steps: Int?
    @Option(help: "Peak learning rate.") var lr: Double?
    @Option(help: "Damping omega.") var omega: Double?
    @Option(help: "Student temperature tau.") var tau: Double?
    @Option(help: "Lists per step.") var listsPerStep: Int?
    @Option(help: "Seed.") var seed: Int?
    @Option(help: "Teacher: active, base or a version.") var teacher: String?
    @Option(help: "Least dev gain (Spearman x 100) to activate.") var minGain: Double?
    @Option(help: "Most loss (points x 100) on each check.") var maxLoss: Double?
    @Option(help: "Fewest kept lists worth training on.") var minLists: Int?
    @Option(help: "Id of the new version (default: refine-<job id>).") var version: String?
    @Flag(help: "Activate whatever the evaluation says.") var noGate = false
    @OptionGroup(title: "Teacher filter (the synthesised lists checked by the active version before training)")
    var filter: TeacherFilterOptions
    @Option(help: "Compute threads.") var threads: Int?

    func parameters() throws -> [String: JSONValue] {
        let sentences: [String]
        do { sentences = try AnchorSource.read(path: input) } catch { throw ValidationError("--input: \(error)") }
        var p: [String: JSONValue] = ["sentences": .array(sentences.map(JSONValue.string))]
        let numbers: [(String, Double?)] = [
            ("rounds", rounds.map(Double.init)), ("min_list_length", minListLength.map(Double.init)),
            ("max_new_tokens", maxNewTokens.map(Double.init)), ("steps", steps.map(Double.init)), ("learning_rate", lr),
            ("omega", omega), ("tau", tau), ("lists_per_step", listsPerStep.map(Double.init)), ("seed", seed.map(Double.init)),
            ("min_gain", minGain), ("max_loss", maxLoss), ("min_lists", minLists.map(Double.init)),
        ]
        for (key, value) in numbers { if let value { p[key] = .number(value) } }
        if let teacher { p["teacher"] = .string(teacher) }
        if let version { p["version"] = .string(version) }
        if noGate { p["gate"] = .bool(false) }
        let f = try filter.settings()
        p["teacher_filter"] = .bool(f.enabled)
        p["filter_max_previous_cosine"] = .number(f.maxPreviousCosine)
        p["filter_min_anchor_cosine"] = .number(f.minAnchorCosine)
        p["filter_max_spearman"] = .number(f.maxSpearman)
        if let m = filter.filterMinListLength { p["filter_min_list_length"] = .number(Double(m)) }
        let checks = checkSts.map { JSONValue.object(["kind": .string("sts"), "file": .string($0)]) }
            + checkRetrieval.map { JSONValue.object(["kind": .string("retrieval"), "dir": .string($0)]) }
        if !checks.isEmpty { p["checks"] = .array(checks) }
        return p
    }

    func run() throws {
        var c = ServiceConfiguration()
        c.modelPath = model
        c.dataDirectory = dataDir
        c.generatorPath = generator
        c.devSetPath = dev.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? ServeCommand.bundledDevSet()
        c.generatorThreads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        c.jobNice = 0  // nothing to yield to: no server runs on this data directory
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let handle: ModelHandle
        do { handle = try ModelHandle.load(path: model, crossEncoderPath: nil) } catch {
            throw ValidationError("cannot load the model \(model): \(error)")
        }
        var options = InferenceEngine.Configuration()
        options.batcher.threads = c.generatorThreads
        let engine = InferenceEngine(configuration: options, base: handle, basePath: model, dataDirectory: dataDir)
        engine.start()
        let queue = try RanksmithService.jobQueue(c, engine: engine)
        let job: JobRecord
        do { job = try queue.submit(kind: "refine", parameters: try parameters()) } catch let JobError.invalid(field, message) {
            throw ValidationError("\(field): \(message)")
        }
        queue.start()
        defer { queue.stop() }
        print("job \(job.id): refining \(engine.models.active.version) in \(dataDir)")
        var printed: [String: String] = [:]
        while true {
            Thread.sleep(forTimeInterval: 0.5)
            guard let r = queue.get(job.id) else { throw CommandFailure("job \(job.id) disappeared") }
            for stage in r.result?["stages"]?.arrayValue ?? [] {
                guard let name = stage["name"]?.stringValue, let state = stage["state"]?.stringValue else { continue }
                let line = "\(state)\(stage["detail"]?.stringValue.map { ": " + $0 } ?? "")"
                if state != "pending", printed[name] != line {
                    printed[name] = line
                    print("\(name): \(line)")
                }
            }
            guard r.state.isFinished else { continue }
            for note in r.notes where note.hasPrefix("evaluation of") { print(note) }
            if r.state != .succeeded { throw CommandFailure("refine \(r.state.rawValue): \(r.error ?? "")") }
            let activated = r.result?["activated"]?.boolValue == true
            print(activated ? "activated \(r.result?["version"]?.stringValue ?? "")" : "not activated; \(engine.models.active.version) stays active")
            return
        }
    }
}
