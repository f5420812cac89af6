import ArgumentParser
import Encoder
import Foundation
import Numerics
import Refinement

/// `ranksmith synthesize --generator FILE --input FILE --output FILE`:
/// ranking lists (docs/method.md §1) for the input's sentences, appended to the
/// output JSONL as they finish; rerunning with the same output resumes.
struct SynthesizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthesize",
        abstract: "Synthesise ranking lists from sentences with the local LLM (or an OpenAI-compatible endpoint).")

    @Option(help: "GGUF generator file, or the base URL (…/v1) of an OpenAI-compatible server.")
    var generator: String = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "Model name sent to a remote generator.")
    var remoteModel: String = "default"

    @Option(help: "Anchor sentences: one per line, or JSONL (.jsonl) with a \"text\" field.")
    var input: String

    @Option(help: "JSONL to append kept lists to (resumed if it exists).")
    var output: String

    @Option(help: "JSONL for dropped chains (default: OUTPUT with .rejected.jsonl).")
    var rejected: String?

    @Option(help: "Use only the first N distinct sentences.")
    var limit: Int?

    @Option(help: "Rounds N (a complete list has N + 1 sentences).")
    var rounds = 32

    @Option(help: "Guidance scale s; 1 = no guidance.")
    var guidanceScale = 1.5

    @Option(help: "Most new tokens per rewrite.")
    var maxNewTokens = 100

    @Option(help: "Source n-gram blocking n; 0 = off.")
    var ngramBlock = 3

    @Flag(inversion: .prefixedNo, help: "Chain hygiene (stop on repeats, meta-text, loops, overlong or off-script output).")
    var hygiene = true

    @Option(help: "Shortest list kept when a chain stops early (x0 included).")
    var minListLength = 5

    @Option(help: "Chains decoded together as one batch.")
    var batchChains = 16

    @Flag(inversion: .prefixedNo, help: "Compute the shared prompt prefix once and copy it (off: feed it every time).")
    var prefixReuse = true

    @Option(help: "Teacher encoder the kept lists are checked with (a sentence-transformers folder).")
    var teacher: String = "models/all-MiniLM-L6-v2"

    @OptionGroup(title: "Teacher filter (writes OUTPUT.filtered.jsonl: the lists to train on)")
    var filter: TeacherFilterOptions

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let computeThreads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        QuantMatmul.threads = computeThreads
        BLAS.setThreads(1)
        var settings = SynthesisSettings()
        settings.rounds = rounds
        settings.guidanceScale = guidanceScale
        settings.maxNewTokens = maxNewTokens
        settings.ngramBlock = ngramBlock
        settings.hygiene = hygiene
        settings.minListLength = minListLength
        settings.batchChains = batchChains
        do {
            try settings.validate()
        } catch let e as SynthesisError {
            throw ValidationError(e.description.replacingOccurrences(of: "_", with: "-"))
        }
        let filterSettings = try filter.settings(minListLength: minListLength)
        var anchors = SynthesisRun.distinctAnchors(try AnchorSource.read(path: input, field: "--input"))
        if let limit { anchors = Array(anchors.prefix(max(0, limit))) }
        let backend: RewriteBackend
        do {
            backend = try RewriteBackends.make(generator: generator, remoteModel: remoteModel, settings: settings, anchors: anchors,
                                               threads: computeThreads, reusePrefix: prefixReuse)
        } catch SynthesisError.generator(let message) where RewriteBackends.isRemote(generator) {
            throw ValidationError("--generator: \(message)")  // the base URL does not parse
        } catch SynthesisError.generator(let message), SynthesisError.invalidInput(_, let message) {
            throw CommandFailure(message)
        }
        // The teacher is loaded before any chain, so a wrong path fails at once, not after the synthesis.
        let teacherModel: BertModel? = filterSettings.enabled ? try {
            do { return try BertModel(directory: URL(fileURLWithPath: teacher)) } catch {
                throw ValidationError("--teacher: cannot load \(teacher) (\(error)); give --teacher DIR or --no-teacher-filter")
            }
        }() : nil
        for note in backend.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        let lists = try ListsFile(path: output)
        let rejects = try ListsFile(path: rejected ?? Self.rejectedPath(output))
        let terminal = isatty(2) == 1
        let started = Date()
        var lastLine = Date.distantPast
        let summary = try SynthesisRun.run(
            anchors: anchors, backend: backend, settings: settings, lists: lists, rejected: rejects,
            cancelled: { false }
        ) { done, total, s in
            let now = Date()
            guard terminal || now.timeIntervalSince(lastLine) >= 30 || done == total else { return }
            lastLine = now
            let minutes = max(1e-9, now.timeIntervalSince(started) / 60)
            let fresh = s.kept + s.dropped
            let rate = Double(fresh) / minutes
            let eta = rate > 0 ? Double(total - done) / rate * 60 : 0
            let line = String(format: "%d/%d chains (%d kept), %.1f chains/min, ETA %@", done, total,
                              lists.lines, rate, durationText(eta))
            FileHandle.standardError.write(Data((terminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
        }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        var report = (try JSONSerialization.jsonObject(with: JSONEncoder().encode(summary))) as! [String: Any]
        report["lists_per_hour"] = summary.seconds > 0 ? Double(summary.kept + summary.dropped) / summary.seconds * 3600 : 0
        report["generated_tokens_per_second"] = summary.seconds > 0 ? Double(summary.generatedTokens) / summary.seconds : 0
        report["output"] = output
        if let model = teacherModel, lists.lines > 0 {
            let f = try TeacherFilter(settings: filterSettings).filterFile(
                input: output, output: Self.derivedPath(output, ".filtered.jsonl"), dropped: Self.derivedPath(output, ".filtered-out.jsonl"),
                teacher: model, threads: computeThreads)
            FileHandle.standardError.write(Data((f.summaryLine + "\n").utf8))
            report["teacher_filter"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(f))
            report["filtered_output"] = Self.derivedPath(output, ".filtered.jsonl")
        }
        let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    /// `lists.jsonl` → `lists.rejected.jsonl`.
    static func rejectedPath(_ output: String) -> String {
        output.hasSuffix(".jsonl") ? String(output.dropLast(6)) + ".rejected.jsonl" : output + ".rejected"
    }

    /// `lists.jsonl` → `lists<suffix>` (suffix such as `.filtered.jsonl`).
    static func derivedPath(_ output: String, _ suffix: String) -> String {
        (output.hasSuffix(".jsonl") ? String(output.dropLast(6)) : output) + suffix
    }
}
