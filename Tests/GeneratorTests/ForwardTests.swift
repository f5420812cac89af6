import Foundation
import Generator
import Numerics
import XCTest

/// Invariants of the forward pass on the bundled model.
final class ForwardTests: XCTestCase {
    /// Logits of a prompt's last token: all rows in one call vs one row per call.
    static let batchTolerance: Float = 2e-3

    func lastLogits(_ m: LlamaModel, _ ids: [Int32], chunk: Int) -> [Float] {
        let s = m.makeState(slots: 1, contextLength: 64, maxRows: 64)
        var start = 0
        var out = [Float]()
        while start < ids.count {
            let n = min(chunk, ids.count - start)
            let toks = Array(ids[start..<(start + n)])
            let slots = [Int](repeating: 0, count: n)
            let pos = Array(start..<(start + n))
            let last = [n - 1]
            m.forward(s, tokens: toks, slots: slots, positions: pos, count: n, logitRows: last, logitCount: 1)
            start += n
        }
        out = Array(UnsafeBufferPointer(start: s.logits, count: m.config.vocabSize))
        return out
    }

    func testPromptInOneCallEqualsTokenByToken() throws {
        let m = try SharedModel.require()
        let ids = m.tokenizer.encode("The quick brown fox jumps over the lazy dog because", parseSpecial: false)
        let a = lastLogits(m, ids, chunk: 64)
        let b = lastLogits(m, ids, chunk: 1)
        let scale = a.map(abs).max()!
        let err = zip(a, b).map { abs($0 - $1) }.max()! / scale
        XCTAssertLessThan(err, Self.batchTolerance)
    }
}
