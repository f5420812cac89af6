import ArgumentParser
import Encoder
import Foundation
import Numerics

/// `ranksmith bench embed`: sentences/s of the encoder at several batch
/// sizes, tokenisation included (as sentence-transformers' `encode` does).
struct BenchEmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Encoder throughput: sentences/s per batch size, JSON out.")

    @Option(help: "Sentence-transformers model folder.")
    var model: String = "models/all-MiniLM-L6-v2"

    @Option(help: "Input texts, one per line.")
    var input: String

    @Option(help: "Comma-separated batch sizes.")
    var batchSizes: String = "1,8,32,128"

    @Option(help: "How many texts to embed per batch size (cycling through the input).")
    var count: Int = 512

    @Option(help: "Repetitions per batch size; the median is reported.")
    var repeats: Int = 3

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let threads = configureThreads(threads)
        let model = try loadModel(model)
        let lines = try readInputLines(input).filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw ValidationError("\(input) has no lines") }
        let texts = (0..<count).map { lines[$0 % lines.count] }
        _ = model.embedAll(Array(texts.prefix(64)), batchSize: 32, threads: threads)  // warm-up
        var results: [[String: Any]] = []
        for size in batchSizes.split(separator: ",").compactMap({ Int($0) }) {
            var rates: [Double] = []
            var latencies: [Double] = []
            for _ in 0..<max(1, repeats) {
                let start = DispatchTime.now().uptimeNanoseconds
                var i = 0
                // Batches are taken in input order, as a client would send them.
                while i < texts.count {
                    let batch = Array(texts[i..<min(i + size, texts.count)])
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    _ = model.embed(batch, threads: threads)
                    latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                    i += size
                }
                rates.append(Double(texts.count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            }
            let tokens = texts.map { model.encode($0).ids.count }.reduce(0, +)
            results.append([
                "batch_size": size,
                "sentences_per_s": (median(rates) * 10).rounded() / 10,
                "batch_latency_ms_p50": (median(latencies) * 100).rounded() / 100,
                "mean_tokens": Double(tokens) / Double(texts.count),
            ])
        }
        let json = try JSONSerialization.data(withJSONObject: ["engine": "ranksmith", "threads": threads, "results": results], options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

/// `ranksmith bench sgemm`: achieved OpenBLAS sgemm GFLOP/s at the encoder's
/// shapes — the ceiling the encoder is measured against.
struct BenchSgemmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sgemm", abstract: "Achieved sgemm GFLOP/s at encoder shapes, JSON out.")

    @Option(help: "Rows (tokens in a batch).")
    var m: Int = 512

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        BLAS.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        var results: [[String: Any]] = []
        // The encoder's four products per layer: QKV, attention out, FFN in, FFN out.
        for (n, k) in [(1152, 384), (384, 384), (1536, 384), (384, 1536)] {
            let a = Matrix(rows: m, cols: k, data: (0..<(m * k)).map { Float($0 % 7) * 0.1 })
            let b = Matrix(rows: n, cols: k, data: (0..<(n * k)).map { Float($0 % 5) * 0.1 })
            var rates: [Double] = []
            for _ in 0..<7 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                var reps = 0
                while DispatchTime.now().uptimeNanoseconds - t0 < 200_000_000 {
                    _ = Matrix.multiply(a, b, transposeB: true)
                    reps += 1
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                rates.append(2 * Double(m * n * k) * Double(reps) / seconds / 1e9)
            }
            results.append(["m": m, "n": n, "k": k, "gflops": (median(rates) * 10).rounded() / 10])
        }
        let json = try JSONSerialization.data(withJSONObject: ["threads": BLAS.threads, "results": results], options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

/// `ranksmith bench …`: measurements for bench/ scripts.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks (used by the scripts in bench/).",
        subcommands: [BenchEmbedCommand.self, BenchSgemmCommand.self, BenchIndexCommand.self, BenchTrainCommand.self])
}

/// The median of a non-empty list.
func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
