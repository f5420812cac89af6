import ArgumentParser
import Encoder
import Foundation
import Numerics
import Refinement

/// `ranksmith train`: post-trains an embedding model on ranking lists
/// (docs/method.md §2) and writes a new model version.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Post-train an embedding model on ranking lists; writes a new model version folder.")

    @Option(help: "Sentence-transformers model folder to start from (the student).")
    var model: String = "models/all-MiniLM-L6-v2"

    @Option(help: "JSONL ranking lists: one {\"anchor\", \"list\": [anchor, x1, ...]} per line.")
    var lists: String

    @Option(help: "Folder to write the new version to (must not exist).")
    var output: String

    @Option(help: "Frozen teacher model folder (default: the starting model).")
    var teacher: String?

    @Option(help: "Development pairs JSONL (sentence1, sentence2, score), or 'none'.")
    var dev: String = "data/stsb/stsb_dev.jsonl"

    @Option(help: "Peak learning rate.")
    var lr: Double = 3e-6

    @Option(help: "AdamW decoupled weight decay (docs/method.md uses 0).")
    var weightDecay: Double = 0.01

    @Option(help: "Steps (default: one epoch over the lists).")
    var steps: Int?

    @Option(help: "Epochs over the lists left after the teacher filter (steps = epochs × lists ÷ lists per step); instead of --steps.")
    var epochs: Int?

    @Option(help: "Lists per step (each list is its own similarity matrix).")
    var listsPerStep: Int = 1

    @Option(help: "Damping omega in sign(B)*ln(omega*|B|+1).")
    var omega: Double = 0.5

    @Option(help: "Student temperature tau.")
    var tau: Double = 0.05

    @Option(help: "Teacher temperature tau2.")
    var teacherTau: Double = 0.05

    @Option(help: "Tokens per sentence, [CLS]/[SEP] included.")
    var maxLength: Int = 32

    @Option(help: "Evaluate on the development set every N steps; the best is kept.")
    var evalEvery: Int = 25

    @Option(help: "Share of steps for linear warm-up (then linear decay).")
    var warmup: Double = 0.1

    @Option(help: "Gradient-norm clip.")
    var clip: Double = 1.0

    @Option(help: "Seed for list order and tie-breaking.")
    var seed: UInt64 = 42

    @Option(help: "Which weights to write: 'best' (by dev Spearman, the starting weights included) or 'last'.")
    var keep: String = "best"

    @Option(help: "Version id written into manifest.json (default: the output folder's name).")
    var version: String?

    @Option(help: "Checkpoint file: written every --checkpoint-every steps; if it exists at start, the run resumes from it.")
    var checkpoint: String?

    @Option(help: "Steps between checkpoints.")
    var checkpointEvery: Int = 100

    @OptionGroup(title: "Teacher filter (lists checked by the teacher before training)")
    var filter: TeacherFilterOptions

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        // Everything that can be wrong is checked here, before any step.
        var options = TrainingOptions()
        options.learningRate = lr
        options.adamW.weightDecay = weightDecay
        options.steps = steps
        options.listsPerStep = listsPerStep
        options.loss = RankingLossOptions(tau: tau, teacherTau: teacherTau, omega: omega)
        options.maxLength = maxLength
        options.evaluateEvery = evalEvery
        options.warmupFraction = warmup
        options.gradientClip = clip
        options.seed = seed
        guard keep == "best" || keep == "last" else { throw ValidationError("--keep must be 'best' or 'last', got '\(keep)'") }
        options.keepBest = keep == "best"
        do { try options.validate() } catch { throw ValidationError("\(error)") }
        let outputURL = URL(fileURLWithPath: output)
        if FileManager.default.fileExists(atPath: outputURL.path) {
            throw ValidationError("\(output) already exists; model versions are immutable, choose a new output folder")
        }
        guard let bytes = FileManager.default.contents(atPath: lists) else { throw ValidationError("cannot read the lists file \(lists)") }
        var rankingLists: RankingLists
        do { rankingLists = try RankingLists(data: bytes, path: lists) } catch { throw ValidationError("\(error)") }
        let filterSettings = try filter.settings()
        let devPairs: STSPairs? = dev == "none" ? nil : try {
            do { return try STSPairs(path: dev) } catch { throw ValidationError("development set: \(error)") }
        }()
        let student = try loadModel(model)
        let teacherModel = try teacher.map(loadModel) ?? student
        let threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        BLAS.setThreads(threads)
        let (filtered, filterReport) = TeacherFilter(settings: filterSettings).filter(rankingLists.lists, teacher: teacherModel, threads: threads)
        FileHandle.standardError.write(Data((filterReport.summaryLine + "\n").utf8))
        guard !filtered.isEmpty else {
            throw ValidationError("the teacher filter kept none of the \(rankingLists.lists.count) lists in \(lists) (\(filterReport.summaryLine)); "
                + "loosen its thresholds or give --no-teacher-filter")
        }
        do { rankingLists = try RankingLists(lists: filtered, name: lists) } catch { throw ValidationError("\(error)") }
        if let epochs {
            guard steps == nil else { throw ValidationError("give --steps or --epochs, not both") }
            guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
            options.steps = max(1, epochs * rankingLists.lists.count / listsPerStep)
        }
        let trainer: Trainer
        do {
            trainer = try Trainer(student: student, teacher: teacherModel, lists: rankingLists, dev: devPairs, options: options)
        } catch { throw ValidationError("\(error)") }

        let checkpointURL = checkpoint.map { URL(fileURLWithPath: $0) }
        if let checkpointURL, FileManager.default.fileExists(atPath: checkpointURL.path) {
            do { try trainer.restore(from: checkpointURL) } catch { throw ValidationError("\(error)") }
            FileHandle.standardError.write(Data("resuming from \(checkpointURL.path) after step \(trainer.step)\n".utf8))
        }
        FileHandle.standardError.write(Data("training \(rankingLists.lists.count) lists for \(trainer.totalSteps) steps\n".utf8))
        let every = max(1, checkpointEvery)
        let result = try trainer.run(progress: { p in
            if let checkpointURL, p.step % every == 0, p.step < p.steps {
                do { try trainer.saveCheckpoint(to: checkpointURL) } catch {
                    FileHandle.standardError.write(Data("warning: checkpoint not saved: \(error)\n".utf8))
                }
            }
            let dev = p.devSpearman.map { String(format: "  dev %.2f", $0) } ?? ""
            let line = String(format: "step %d/%d  loss %.4f%@  eta %@\n", p.step, p.steps, p.loss, dev, durationText(p.etaSeconds))
            FileHandle.standardError.write(Data(line.utf8))
        })
        let manifest = ModelManifest(
            version: version ?? outputURL.lastPathComponent, parent: model, teacher: teacher ?? model,
            dataset: DatasetInfo(file: lists, lists: rankingLists.lists.count, bytes: bytes),
            options: options, result: result, dev: devPairs == nil ? nil : dev)
        try ModelVersionWriter.write(weights: result.weights, base: student, manifest: manifest, to: outputURL)
        var summary: [String: Any] = ["output": output, "steps": result.steps, "best_step": result.bestStep,
                                      "seconds": (result.seconds * 100).rounded() / 100,
                                      "final_loss": result.curve.last?.loss ?? 0]
        if let before = result.devBefore { summary["dev_before"] = (before * 100).rounded() / 100 }
        if let after = result.devAfter { summary["dev_after"] = (after * 100).rounded() / 100 }
        summary["lists"] = rankingLists.lists.count
        summary["teacher_filter"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(filterReport))
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}
