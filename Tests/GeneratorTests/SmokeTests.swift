import Foundation
import Generator
import Numerics
import XCTest

final class SmokeTests: XCTestCase {
    func testGreedySmoke() throws {
        let m = try SharedModel.require()
        QuantMatmul.threads = 2
        let d = LlamaDecoder(model: m)
        for p in ["The capital of France is", "1, 2, 3, 4, 5,", "Once upon a time"] {
            let ids = m.tokenizer.encode(p, parseSpecial: false)
            let g = try d.generate(prompt: ids, options: GenerationOptions(maxTokens: 16))
            print("OUT:", p, "→", g.text)
        }
        let t = try m.chatTemplate()
        let ids = m.chatPrompt("What is the capital of France?", template: t)
        let t0 = Date()
        let g = try d.generate(prompt: ids, options: GenerationOptions(maxTokens: 64, ignoreEndOfGeneration: true))
        let dt = Date().timeIntervalSince(t0)
        print("OUT:", g.text, g.finishReason, dt, Double(g.tokens.count) / dt)
    }
}

final class SpeedProbe: XCTestCase {
    func testMatvecSpeed() throws {
        let m = try SharedModel.require()
        let w = m.weights
        _ = w
        let rows = 1536, cols = 576
        let bytes = QuantReference.quantize(.q4_1, QuantKernelTests.values(rows * cols, seed: 1))
        let acts = QuantizedActivations(maxRows: 16, cols: cols)
        let x = QuantKernelTests.values(16 * cols, seed: 2)
        var y = [Float](repeating: 0, count: 16 * rows)
        for threads in [1, 2] {
            QuantMatmul.threads = threads
            for n in [1, 16] {
                bytes.withUnsafeBytes { raw in
                    let mat = QuantizedMatrix(type: .q4_1, rows: rows, cols: cols, data: raw.baseAddress!)
                    x.withUnsafeBufferPointer { xp in
                        let t0 = Date()
                        for _ in 0..<200 {
                            acts.prepare(xp.baseAddress!, rows: n, q8: true)
                            y.withUnsafeMutableBufferPointer { QuantMatmul.multiply(mat, acts, into: $0.baseAddress!, ldy: rows) }
                        }
                        let dt = Date().timeIntervalSince(t0) / 200
                        print("SPEED threads \(threads) n \(n): \(dt * 1e6) us per call, \(Double(rows * cols * n) / dt / 1e9) GMAC/s")
                    }
                }
            }
        }
    }
}
