// Tokenisation speed on STS-B sentences. Not a timed test in normal runs:
// it is skipped unless RANKSMITH_BENCH_TOKENIZER=1, so a busy CI machine
// cannot make the suite flaky. Run it with
//   RANKSMITH_BENCH_TOKENIZER=1 swift test -c release --filter WordPieceThroughputTests
// It prints the figures and checks the floor the tokenizer was built to (20k sentences/s).

import Foundation
import XCTest
import Tokenization

final class WordPieceThroughputTests: XCTestCase {
    func testThroughputOnSTSB() throws {
        guard ProcessInfo.processInfo.environment["RANKSMITH_BENCH_TOKENIZER"] == "1" else {
            throw XCTSkip("set RANKSMITH_BENCH_TOKENIZER=1 to measure tokenizer throughput")
        }
        let t = try TokenizerFixtures.tokenizer()
        var sentences: [String] = []
        for source in ["stsb/stsb_train.jsonl", "stsb/stsb_dev.jsonl"] {
            for field in ["sentence1", "sentence2"] {
                sentences += try TokenizerFixtures.texts(source: source, field: field)
            }
        }
        let bytes = sentences.reduce(0) { $0 + $1.utf8.count }
        var tokens = 0
        for s in sentences { tokens += t.encode(s, maxLength: 256).ids.count }  // warm-up

        // Best of 5 passes, by wall clock and by this thread's CPU time (the
        // latter is fair on a machine that other jobs keep busy).
        var best = Double.infinity, bestCPU = Double.infinity
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds, startCPU = threadCPUSeconds()
            var check = 0
            for s in sentences { check &+= t.encode(s, maxLength: 256).ids.count }
            bestCPU = min(bestCPU, threadCPUSeconds() - startCPU)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            XCTAssertEqual(check, tokens)
        }
        let perSecond = Double(sentences.count) / best
        let threads = ProcessInfo.processInfo.activeProcessorCount
        // All cores at once: shared state (reference counts, locks) would show
        // as CPU time per sentence rising above the one-thread figure.
        let cpu = UnsafeMutableBufferPointer<Double>.allocate(capacity: threads)
        defer { cpu.deallocate() }
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: threads) { k in
            let before = threadCPUSeconds()
            for s in sentences { _ = t.encode(s, maxLength: 256) }
            cpu[k] = threadCPUSeconds() - before
        }
        let parallel = Double(sentences.count * threads) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        let parallelCPU = Double(sentences.count * threads) / cpu.reduce(0, +)
        print(String(format: "WordPiece throughput, one thread: %.0f sentences/s wall, %.0f sentences/s of CPU time, "
                     + "%.2fM tokens/s, %.1f MB/s (%d STS-B sentences, %d tokens, best of 5); "
                     + "%d threads: %.0f sentences/s wall, %.0f sentences per CPU-second",
                     perSecond, Double(sentences.count) / bestCPU, Double(tokens) / best / 1e6, Double(bytes) / best / 1e6,
                     sentences.count, tokens, threads, parallel, parallelCPU))
        XCTAssertGreaterThan(perSecond, 20_000)
    }
}

/// CPU time this thread has used, in seconds.
private func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
