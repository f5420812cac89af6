import ArgumentParser
import Encoder
import Foundation
import Numerics
import Refinement

/// `ranksmith bench train`: training steps per second on one ranking list
/// (one line of the input per sentence, anchor first), and the peak
/// resident memory while stepping. bench/train/run runs it beside the
/// PyTorch reference.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Training steps/s on one list (one sentence per input line), JSON out.")

    @Option(help: "Sentence-transformers model folder.")
    var model: String = "models/all-MiniLM-L6-v2"

    @Option(help: "The list: one sentence per line, anchor first.")
    var input: String

    @Option(help: "Timed steps (after one warm-up step); the median is reported.")
    var steps: Int = 10

    @Option(help: "Tokens per sentence.")
    var maxLength: Int = 32

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1 (the median of no steps is undefined)") }
    }

    func run() throws {
        let threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        BLAS.setThreads(threads)
        let sentences = try readInputLines(input).filter { !$0.isEmpty }
        let student = try loadModel(model)
        let lists = try RankingLists(lists: [sentences], name: input)
        var options = TrainingOptions()
        options.steps = steps + 1
        options.maxLength = maxLength
        options.warmupFraction = 0
        let trainer = try Trainer(student: student, teacher: student, lists: lists, dev: nil, options: options)
        let tokens = sentences.map { min(student.tokenizer.encode($0, maxLength: maxLength).ids.count, maxLength) }.reduce(0, +)
        var times: [Double] = []
        var last = Date()
        var lastLoss = 0.0, firstLoss = 0.0
        _ = try trainer.run(progress: { p in
            let now = Date()
            if p.step == 1 {
                firstLoss = p.loss  // at the starting weights: comparable with the reference's
                // Warm-up done: from here on, the high-water mark is the steps'.
                try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
            } else {
                times.append(now.timeIntervalSince(last))
            }
            lastLoss = p.loss
            last = Date()
        })
        let stepTime = median(times)
        let object: [String: Any] = [
            "engine": "Ranksmith", "sentences": sentences.count, "tokens": tokens, "steps": steps,
            "step_ms_median": (stepTime * 10_000).rounded() / 10, "steps_per_s": (1 / stepTime * 1000).rounded() / 1000,
            "peak_rss_mib": Self.highWaterMiB(), "first_loss": (firstLoss * 10_000).rounded() / 10_000,
            "last_loss": (lastLoss * 10_000).rounded() / 10_000,
        ]
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    /// VmHWM of this process in MiB (0 where /proc is missing).
    static func highWaterMiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (Int(line.split(separator: " ")[1]) ?? 0) / 1024
        }
        return 0
    }
}
